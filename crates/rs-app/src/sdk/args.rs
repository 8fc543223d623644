//! Typed read arguments: what each argument form of `rs_app!` declares and
//! how it is taken from the payload.
//!
//! | `rs_app!` form | seed macro | callback receives |
//! |---|---|---|
//! | `net(T)` | `RS_NET(type)` | `T`, bytes as sent |
//! | `ntoh(T)` | `RS_NTOH(type)` | `T`, from network byte order |
//! | `net(T; N)` | `RS_NET(type, elem_c)` | `[T; N]` |
//! | `ntoh(T; N)` | `RS_NTOH(type, elem_c)` | `[T; N]` |
//! | `net(T; MIN..=MAX)` | `RS_NET(type, min, max)` and its `_STA`/`_VLA`/`_HEAP` flavours | [`Elems<T>`], a view over the payload (`.to_vec()` for the `_HEAP` case) |
//! | `ntoh(T; MIN..=MAX)` | `RS_NTOH(type, min, max)` and flavours | [`Elems<T>`], converting on access |
//! | `str(MIN..=MAX)` | `RS_STR(min, max)` and flavours | `&str` (MIN..=MAX bytes of UTF-8) |
//! | `bytes()` | `RS_NET(uint8_t, 0, UINT32_MAX)` | `&[u8]`: the whole rest of the payload |
//! | `text()` | `RS_STR(0, UINT32_MAX)` | `&str`: the whole rest of the payload |
//!
//! `T` is any of `u8`-`u64`, `i8`-`i64`, `f32`, `f64`. A range or string must
//! be the last argument. The C flavours only differ in where the array lives;
//! in Rust the view borrows the payload, so none of them copies.

use std::marker::PhantomData;

use crate::abi::{ARG_NET, ARG_NTOH, ARG_STR, ArgSpec, SHAPE_ARRAY, SHAPE_RANGE, SHAPE_SCALAR};

/// A fixed-size value that can be read from a payload.
pub trait Wire: Copy + sealed::Sealed {
    /// Its size in bytes.
    const SIZE: usize;
    /// From bytes as sent (`RS_NET`).
    fn from_net(bytes: &[u8]) -> Self;
    /// From network byte order (`RS_NTOH`).
    fn from_be(bytes: &[u8]) -> Self;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! wire {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl Wire for $t {
            const SIZE: usize = size_of::<$t>();
            fn from_net(bytes: &[u8]) -> Self {
                let mut raw = [0u8; size_of::<$t>()];
                raw.copy_from_slice(&bytes[..Self::SIZE]);
                <$t>::from_ne_bytes(raw)
            }
            fn from_be(bytes: &[u8]) -> Self {
                let mut raw = [0u8; size_of::<$t>()];
                raw.copy_from_slice(&bytes[..Self::SIZE]);
                <$t>::from_be_bytes(raw)
            }
        }
    )*};
}

wire!(u8, u16, u32, u64, i8, i16, i32, i64, f32, f64);

/// One declared argument: its layout and how to take it from the payload.
/// Implemented by the marker types below, which `rs_app!` names for you.
pub trait Arg<'a> {
    /// The layout the server checks before the callback runs.
    const SPEC: ArgSpec;
    /// What the callback receives.
    type Value;
    /// Takes the argument from the front of `bytes` and returns the rest;
    /// `None` if the bytes do not fit (the server checked them, so this only
    /// guards against a server that did not).
    fn take(bytes: &'a [u8]) -> Option<(Self::Value, &'a [u8])>;
}

const fn spec(kind: u8, shape: u8, elem_size: usize, min: usize, max: usize) -> ArgSpec {
    // Evaluated at compile time for every declared argument.
    assert!(
        min <= u32::MAX as usize && max <= u32::MAX as usize,
        "rs_app!: an element count above 4294967295"
    );
    ArgSpec {
        kind,
        shape,
        elem_size: elem_size as u8,
        reserved: 0,
        min: min as u32,
        max: max as u32,
    }
}

/// The most bytes a fixed-size array argument may take: it is built on
/// the app thread's stack (2 MiB).
pub const MAX_ARRAY_BYTES: usize = 64 << 10;

const fn array_spec(kind: u8, elem_size: usize, n: usize) -> ArgSpec {
    assert!(
        n <= MAX_ARRAY_BYTES / elem_size,
        "rs_app!: an array argument over 64 KiB would be built on the app thread's stack; \
         use a range, net(T; MIN..=MAX), for large ones"
    );
    spec(kind, SHAPE_ARRAY, elem_size, n, n)
}

/// `net(T)`: one value, bytes as sent.
pub struct Net<T>(PhantomData<T>);
/// `ntoh(T)`: one value, from network byte order.
pub struct Ntoh<T>(PhantomData<T>);
/// `net(T; N)`: `N` values, bytes as sent.
///
/// The array is built on the app thread's stack, so it may take at most
/// [`MAX_ARRAY_BYTES`]:
///
/// ```
/// use rs_app::args::{Arg, NetArray};
/// let spec = <NetArray<u16, 32_768> as Arg<'static>>::SPEC;
/// assert_eq!(spec.min, 32_768);
/// ```
///
/// and a larger one does not compile (use a range instead):
///
/// ```compile_fail
/// use rs_app::args::{Arg, NetArray};
/// let spec = <NetArray<u16, 32_769> as Arg<'static>>::SPEC;
/// ```
pub struct NetArray<T, const N: usize>(PhantomData<T>);
/// `ntoh(T; N)`: `N` values, from network byte order.
pub struct NtohArray<T, const N: usize>(PhantomData<T>);
/// `net(T; MIN..=MAX)`: the rest of the payload as MIN to MAX values.
///
/// The server checks counts as `u32`: MIN and MAX may be up to
/// 4294967295,
///
/// ```
/// use rs_app::args::{Arg, NetRange};
/// let spec = <NetRange<u8, 4_294_967_295, 4_294_967_295> as Arg<'static>>::SPEC;
/// assert_eq!((spec.min, spec.max), (u32::MAX, u32::MAX));
/// ```
///
/// and a larger one, MIN's too, does not compile (rather than being cut
/// down to what the server would be told):
///
/// ```compile_fail
/// use rs_app::args::{Arg, NetRange};
/// let spec = <NetRange<u8, 4_294_967_297, 10> as Arg<'static>>::SPEC;
/// ```
pub struct NetRange<T, const MIN: usize, const MAX: usize>(PhantomData<T>);
/// `ntoh(T; MIN..=MAX)`: the same, from network byte order.
pub struct NtohRange<T, const MIN: usize, const MAX: usize>(PhantomData<T>);
/// `str(MIN..=MAX)`: the rest of the payload as MIN to MAX bytes of UTF-8.
pub struct Str<const MIN: usize, const MAX: usize>;
/// `bytes()`: the rest of the payload, any length, as `&[u8]`.
pub struct Bytes;
/// `text()`: the rest of the payload, any length, as `&str`.
pub type Text = Str<0, { u32::MAX as usize }>;

fn take_scalar<T: Wire>(bytes: &[u8], be: bool) -> Option<(T, &[u8])> {
    let (value, rest) = bytes.split_at_checked(T::SIZE)?;
    Some((
        if be {
            T::from_be(value)
        } else {
            T::from_net(value)
        },
        rest,
    ))
}

fn take_array<T: Wire, const N: usize>(bytes: &[u8], be: bool) -> Option<([T; N], &[u8])> {
    let (values, rest) = bytes.split_at_checked(T::SIZE * N)?;
    let array = std::array::from_fn(|i| {
        let value = &values[i * T::SIZE..];
        if be {
            T::from_be(value)
        } else {
            T::from_net(value)
        }
    });
    Some((array, rest))
}

fn take_range<T: Wire>(
    bytes: &[u8],
    be: bool,
    min: usize,
    max: usize,
) -> Option<(Elems<'_, T>, &[u8])> {
    let count = bytes.len() / T::SIZE;
    if !bytes.len().is_multiple_of(T::SIZE) || count < min || count > max {
        return None;
    }
    Some((
        Elems {
            bytes,
            big_endian: be,
            _type: PhantomData,
        },
        &[],
    ))
}

impl<'a, T: Wire> Arg<'a> for Net<T> {
    const SPEC: ArgSpec = spec(ARG_NET, SHAPE_SCALAR, T::SIZE, 1, 1);
    type Value = T;
    fn take(bytes: &'a [u8]) -> Option<(T, &'a [u8])> {
        take_scalar(bytes, false)
    }
}

impl<'a, T: Wire> Arg<'a> for Ntoh<T> {
    const SPEC: ArgSpec = spec(ARG_NTOH, SHAPE_SCALAR, T::SIZE, 1, 1);
    type Value = T;
    fn take(bytes: &'a [u8]) -> Option<(T, &'a [u8])> {
        take_scalar(bytes, true)
    }
}

impl<'a, T: Wire, const N: usize> Arg<'a> for NetArray<T, N> {
    const SPEC: ArgSpec = array_spec(ARG_NET, T::SIZE, N);
    type Value = [T; N];
    fn take(bytes: &'a [u8]) -> Option<([T; N], &'a [u8])> {
        take_array(bytes, false)
    }
}

impl<'a, T: Wire, const N: usize> Arg<'a> for NtohArray<T, N> {
    const SPEC: ArgSpec = array_spec(ARG_NTOH, T::SIZE, N);
    type Value = [T; N];
    fn take(bytes: &'a [u8]) -> Option<([T; N], &'a [u8])> {
        take_array(bytes, true)
    }
}

impl<'a, T: Wire + 'a, const MIN: usize, const MAX: usize> Arg<'a> for NetRange<T, MIN, MAX> {
    const SPEC: ArgSpec = spec(ARG_NET, SHAPE_RANGE, T::SIZE, MIN, MAX);
    type Value = Elems<'a, T>;
    fn take(bytes: &'a [u8]) -> Option<(Elems<'a, T>, &'a [u8])> {
        take_range(bytes, false, MIN, MAX)
    }
}

impl<'a, T: Wire + 'a, const MIN: usize, const MAX: usize> Arg<'a> for NtohRange<T, MIN, MAX> {
    const SPEC: ArgSpec = spec(ARG_NTOH, SHAPE_RANGE, T::SIZE, MIN, MAX);
    type Value = Elems<'a, T>;
    fn take(bytes: &'a [u8]) -> Option<(Elems<'a, T>, &'a [u8])> {
        take_range(bytes, true, MIN, MAX)
    }
}

impl<'a, const MIN: usize, const MAX: usize> Arg<'a> for Str<MIN, MAX> {
    const SPEC: ArgSpec = spec(ARG_STR, SHAPE_RANGE, 1, MIN, MAX);
    type Value = &'a str;
    fn take(bytes: &'a [u8]) -> Option<(&'a str, &'a [u8])> {
        if bytes.len() < MIN || bytes.len() > MAX {
            return None;
        }
        Some((std::str::from_utf8(bytes).ok()?, &[]))
    }
}

impl<'a> Arg<'a> for Bytes {
    const SPEC: ArgSpec = spec(ARG_NET, SHAPE_RANGE, 1, 0, u32::MAX as usize);
    type Value = &'a [u8];
    fn take(bytes: &'a [u8]) -> Option<(&'a [u8], &'a [u8])> {
        Some((bytes, &[]))
    }
}

/// A variable number of values borrowed from the payload, converted (from
/// network byte order for `ntoh`) as they are read.
///
/// ```
/// use rs_app::args::{Arg, NtohRange};
/// let payload = [0, 1, 0, 2, 0, 3];
/// let (values, _) = <NtohRange<u16, 1, 10> as Arg>::take(&payload).unwrap();
/// assert_eq!(values.len(), 3);
/// assert_eq!(values.get(1), Some(2));
/// assert_eq!(values.iter().sum::<u16>(), 6);
/// assert_eq!(values.to_vec(), [1, 2, 3]);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Elems<'a, T> {
    bytes: &'a [u8],
    big_endian: bool,
    _type: PhantomData<T>,
}

impl<'a, T: Wire> Elems<'a, T> {
    /// The number of values.
    pub fn len(&self) -> usize {
        self.bytes.len() / T::SIZE
    }

    /// Whether there are none (possible when the range's minimum is 0).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The value at `index`.
    pub fn get(&self, index: usize) -> Option<T> {
        let bytes = self
            .bytes
            .get(index.checked_mul(T::SIZE)?..)?
            .get(..T::SIZE)?;
        Some(if self.big_endian {
            T::from_be(bytes)
        } else {
            T::from_net(bytes)
        })
    }

    /// The values in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = T> + 'a {
        let big_endian = self.big_endian;
        self.bytes.chunks_exact(T::SIZE).map(move |b| {
            if big_endian {
                T::from_be(b)
            } else {
                T::from_net(b)
            }
        })
    }

    /// The values, copied into a `Vec` (the seed's `_HEAP` flavour).
    pub fn to_vec(&self) -> Vec<T> {
        self.iter().collect()
    }

    /// The raw payload bytes of the values.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_read_as_sent_or_from_network_order() {
        let bytes = [0x12, 0x34, 0xff];
        assert_eq!(
            <Ntoh<u16> as Arg>::take(&bytes),
            Some((0x1234, &bytes[2..]))
        );
        assert_eq!(
            <Net<u16> as Arg>::take(&bytes),
            Some((u16::from_ne_bytes([0x12, 0x34]), &bytes[2..]))
        );
        assert_eq!(<Ntoh<i8> as Arg>::take(&bytes[2..]), Some((-1, &[][..])));
        assert_eq!(<Ntoh<u32> as Arg>::take(&bytes), None);
        let f = 1.5f64.to_be_bytes();
        assert_eq!(<Ntoh<f64> as Arg>::take(&f).map(|v| v.0), Some(1.5));
    }

    #[test]
    fn arrays_take_exactly_n_values() {
        let bytes = [0, 1, 0, 2, 0, 3, 9];
        let (values, rest) = <NtohArray<u16, 3> as Arg>::take(&bytes).unwrap();
        assert_eq!((values, rest), ([1, 2, 3], &[9][..]));
        assert!(<NtohArray<u16, 4> as Arg>::take(&bytes).is_none());
    }

    #[test]
    fn ranges_take_the_rest_within_their_bounds() {
        assert!(
            <NetRange<u32, 0, 2> as Arg>::take(&[])
                .unwrap()
                .0
                .is_empty()
        );
        assert_eq!(
            <NetRange<u32, 0, 2> as Arg>::take(&[0; 8]).unwrap().0.len(),
            2
        );
        assert!(<NetRange<u32, 0, 2> as Arg>::take(&[0; 12]).is_none());
        assert!(<NetRange<u32, 1, 2> as Arg>::take(&[]).is_none());
        assert!(<NetRange<u32, 0, 2> as Arg>::take(&[0; 5]).is_none());
        let (values, _) = <NetRange<u8, 1, 3> as Arg>::take(b"abc").unwrap();
        assert_eq!(values.as_bytes(), b"abc");
        assert_eq!(values.get(3), None);
    }

    #[test]
    fn an_index_whose_offset_overflows_is_out_of_range() {
        let payload = 7u64.to_be_bytes();
        let (values, _) = <NtohRange<u64, 1, 1> as Arg>::take(&payload).unwrap();
        assert_eq!(values.get(0), Some(7));
        // 8 × this wraps to 0: it must not read element 0.
        assert_eq!(values.get(usize::MAX / 8 + 1), None);
        assert_eq!(values.get(usize::MAX / 8), None);
        assert_eq!(values.get(usize::MAX), None);
    }

    #[test]
    fn strings_are_utf8_within_their_byte_bounds() {
        assert_eq!(
            <Str<1, 6> as Arg>::take("笑笑".as_bytes()).map(|v| v.0),
            Some("笑笑")
        );
        assert!(<Str<1, 5> as Arg>::take("笑笑".as_bytes()).is_none());
        assert!(<Str<1, 6> as Arg>::take(b"").is_none());
        assert!(<Str<0, 6> as Arg>::take(b"\xff").is_none());
    }

    #[test]
    fn specs_describe_the_forms() {
        assert_eq!(
            <Ntoh<i32> as Arg>::SPEC,
            spec(ARG_NTOH, SHAPE_SCALAR, 4, 1, 1)
        );
        assert_eq!(
            <NetArray<u64, 7> as Arg>::SPEC,
            spec(ARG_NET, SHAPE_ARRAY, 8, 7, 7)
        );
        assert_eq!(
            <NtohRange<u16, 1, 10> as Arg>::SPEC,
            spec(ARG_NTOH, SHAPE_RANGE, 2, 1, 10)
        );
        assert_eq!(
            <Str<0, 255> as Arg>::SPEC,
            spec(ARG_STR, SHAPE_RANGE, 1, 0, 255)
        );
    }
}
