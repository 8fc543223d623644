//! Read payload layouts: checking an app's declared arguments when it is
//! loaded, and checking each payload against them before the callback runs
//! (close codes 4900 and 4901).

use std::fmt;

use crate::abi::{
    ARG_NET, ARG_NTOH, ARG_STR, ArgSpec, MAX_ARGS, SHAPE_ARRAY, SHAPE_RANGE, SHAPE_SCALAR,
};

/// Why a payload does not fit a read case; each maps to a close code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// 4900: the payload size does not match the arguments.
    WrongSize,
    /// 4901: the message kind does not match, or a string is not UTF-8.
    WrongDataKind,
    /// 4902: no switch case has the payload's first byte.
    UnknownCase,
}

impl Violation {
    /// The close code sent to the client.
    pub const fn close_code(self) -> u16 {
        match self {
            Self::WrongSize => crate::abi::close_codes::WRONG_SIZE,
            Self::WrongDataKind => crate::abi::close_codes::WRONG_DATA_KIND,
            Self::UnknownCase => crate::abi::close_codes::UNKNOWN_CASE,
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::WrongSize => "the message's size does not fit its read case's arguments",
            Self::WrongDataKind => {
                "the message's kind (text or binary) is not its read case's, or a string \
                 argument is not UTF-8"
            }
            Self::UnknownCase => "no read case takes the message's first byte",
        })
    }
}

/// A declared argument list that cannot describe any payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// More than [`MAX_ARGS`] arguments.
    TooManyArgs(usize),
    /// An unknown `kind` value.
    UnknownKind {
        /// The argument's position.
        index: usize,
        /// The value found.
        kind: u8,
    },
    /// An unknown `shape` value.
    UnknownShape {
        /// The argument's position.
        index: usize,
        /// The value found.
        shape: u8,
    },
    /// An element size other than 1, 2, 4 or 8 (1 for strings).
    BadElementSize {
        /// The argument's position.
        index: usize,
        /// The size found.
        elem_size: u8,
    },
    /// Counts that do not fit the shape (a scalar is 1, an array has
    /// `min == max >= 1`, a range has `min <= max`).
    BadCounts {
        /// The argument's position.
        index: usize,
        /// The minimum found.
        min: u32,
        /// The maximum found.
        max: u32,
    },
    /// A range (or string) that is not the last argument.
    RangeNotLast(usize),
    /// A string that is not a range: strings have a variable length.
    StringNotRange(usize),
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooManyArgs(n) => write!(
                f,
                "{n} read arguments declared; at most {MAX_ARGS} are allowed"
            ),
            Self::UnknownKind { index, kind } => write!(f, "argument {index}: unknown kind {kind}"),
            Self::UnknownShape { index, shape } => {
                write!(f, "argument {index}: unknown shape {shape}")
            }
            Self::BadElementSize { index, elem_size } => {
                write!(
                    f,
                    "argument {index}: element size {elem_size} (expected 1, 2, 4 or 8; 1 for strings)"
                )
            }
            Self::BadCounts { index, min, max } => {
                write!(
                    f,
                    "argument {index}: element counts {min}..={max} do not fit its shape"
                )
            }
            Self::RangeNotLast(index) => {
                write!(
                    f,
                    "argument {index}: a variable-length argument must be the last one"
                )
            }
            Self::StringNotRange(index) => {
                write!(f, "argument {index}: a string must have a min..max length")
            }
        }
    }
}

impl std::error::Error for LayoutError {}

/// Checks a declared argument list; the server refuses an app whose
/// descriptor fails this.
///
/// ```
/// use rs_app::abi::{ArgSpec, ARG_NTOH, SHAPE_RANGE, SHAPE_SCALAR};
/// use rs_app::layout::{check_args, LayoutError};
/// let scalar = ArgSpec { kind: ARG_NTOH, shape: SHAPE_SCALAR, elem_size: 4, reserved: 0, min: 1, max: 1 };
/// let range = ArgSpec { kind: ARG_NTOH, shape: SHAPE_RANGE, elem_size: 2, reserved: 0, min: 1, max: 10 };
/// assert_eq!(check_args(&[scalar, range]), Ok(()));
/// assert_eq!(check_args(&[range, scalar]), Err(LayoutError::RangeNotLast(0)));
/// ```
pub fn check_args(args: &[ArgSpec]) -> Result<(), LayoutError> {
    if args.len() > MAX_ARGS {
        return Err(LayoutError::TooManyArgs(args.len()));
    }
    for (index, arg) in args.iter().enumerate() {
        if !matches!(arg.kind, ARG_NET | ARG_NTOH | ARG_STR) {
            return Err(LayoutError::UnknownKind {
                index,
                kind: arg.kind,
            });
        }
        let sizes_ok = if arg.kind == ARG_STR {
            arg.elem_size == 1
        } else {
            matches!(arg.elem_size, 1 | 2 | 4 | 8)
        };
        if !sizes_ok {
            return Err(LayoutError::BadElementSize {
                index,
                elem_size: arg.elem_size,
            });
        }
        let counts_ok = match arg.shape {
            SHAPE_SCALAR => arg.min == 1 && arg.max == 1,
            SHAPE_ARRAY => arg.min >= 1 && arg.min == arg.max,
            SHAPE_RANGE => arg.min <= arg.max,
            shape => return Err(LayoutError::UnknownShape { index, shape }),
        };
        if !counts_ok {
            return Err(LayoutError::BadCounts {
                index,
                min: arg.min,
                max: arg.max,
            });
        }
        if arg.kind == ARG_STR && arg.shape != SHAPE_RANGE {
            return Err(LayoutError::StringNotRange(index));
        }
        if arg.shape == SHAPE_RANGE && index + 1 != args.len() {
            return Err(LayoutError::RangeNotLast(index));
        }
    }
    Ok(())
}

/// [`check_args`] as a `const fn`, so that `rs_app!` rejects an invalid
/// argument list at compile time: what is wrong with `args`, in words for
/// the app's author, or `None`.
///
/// ```
/// use rs_app::abi::{ArgSpec, ARG_NTOH, SHAPE_ARRAY, SHAPE_RANGE};
/// use rs_app::layout::args_problem;
/// let range = ArgSpec { kind: ARG_NTOH, shape: SHAPE_RANGE, elem_size: 2, reserved: 0, min: 1, max: 10 };
/// assert_eq!(args_problem(&[range]), None);
/// let empty = ArgSpec { shape: SHAPE_ARRAY, min: 0, max: 0, ..range };
/// assert_eq!(
///     args_problem(&[empty]),
///     Some("rs_app!: an array argument needs at least 1 element (N = 0)")
/// );
/// ```
pub const fn args_problem(args: &[ArgSpec]) -> Option<&'static str> {
    if args.len() > MAX_ARGS {
        return Some("rs_app!: at most 15 read arguments");
    }
    let mut i = 0;
    while i < args.len() {
        let arg = args[i];
        let problem = match arg.shape {
            SHAPE_RANGE if i + 1 != args.len() => {
                "rs_app!: a range, str, bytes() or text() argument must be the last one"
            }
            SHAPE_RANGE if arg.min > arg.max => "rs_app!: a range's MIN is above its MAX",
            SHAPE_ARRAY if arg.min == 0 && arg.max == 0 => {
                "rs_app!: an array argument needs at least 1 element (N = 0)"
            }
            _ => "rs_app!: an invalid argument declaration",
        };
        let shape_ok = match arg.shape {
            SHAPE_SCALAR => arg.kind != ARG_STR && arg.min == 1 && arg.max == 1,
            SHAPE_ARRAY => arg.kind != ARG_STR && arg.min >= 1 && arg.min == arg.max,
            SHAPE_RANGE => i + 1 == args.len() && arg.min <= arg.max,
            _ => false,
        };
        let size_ok = match arg.kind {
            ARG_STR => arg.elem_size == 1,
            ARG_NET | ARG_NTOH => matches!(arg.elem_size, 1 | 2 | 4 | 8),
            _ => false,
        };
        if !shape_ok || !size_ok {
            return Some(problem);
        }
        i += 1;
    }
    None
}

/// Checks a payload against an argument list that passed [`check_args`]:
/// its size must be exactly that of the fixed arguments plus, for a final
/// range, a whole number of elements within the range; a final string must
/// be UTF-8. (An app thread keeps a [`PayloadCheck`] per read case instead,
/// so that it sums the fixed arguments once, not per message.)
///
/// ```
/// use rs_app::abi::{ArgSpec, ARG_NTOH, SHAPE_RANGE, SHAPE_SCALAR};
/// use rs_app::layout::{check_payload, Violation};
/// // The seed's silly_calc: an i32, then 1 to 10 u16s.
/// let args = [
///     ArgSpec { kind: ARG_NTOH, shape: SHAPE_SCALAR, elem_size: 4, reserved: 0, min: 1, max: 1 },
///     ArgSpec { kind: ARG_NTOH, shape: SHAPE_RANGE, elem_size: 2, reserved: 0, min: 1, max: 10 },
/// ];
/// assert_eq!(check_payload(&args, &[0; 6]), Ok(()));
/// assert_eq!(check_payload(&args, &[0; 4]), Err(Violation::WrongSize)); // no u16
/// assert_eq!(check_payload(&args, &[0; 7]), Err(Violation::WrongSize)); // half a u16
/// assert_eq!(check_payload(&args, &[0; 26]), Err(Violation::WrongSize)); // 11 u16s
/// ```
pub fn check_payload(args: &[ArgSpec], payload: &[u8]) -> Result<(), Violation> {
    PayloadCheck::new(args).check(payload)
}

/// [`check_payload`] for one argument list, with what does not depend on
/// the payload worked out once.
///
/// ```
/// use rs_app::abi::{ArgSpec, ARG_STR, SHAPE_RANGE};
/// use rs_app::layout::{PayloadCheck, Violation};
/// // A string of 1 to 5 bytes.
/// let args = [ArgSpec { kind: ARG_STR, shape: SHAPE_RANGE, elem_size: 1, reserved: 0, min: 1, max: 5 }];
/// let check = PayloadCheck::new(&args);
/// assert_eq!(check.check(b"hello"), Ok(()));
/// assert_eq!(check.check(b""), Err(Violation::WrongSize));
/// assert_eq!(check.check(&[0xff]), Err(Violation::WrongDataKind));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadCheck {
    /// The bytes of the arguments before a final range.
    fixed_len: usize,
    /// The final range, if there is one.
    range: Option<RangeCheck>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RangeCheck {
    elem_size: usize,
    min: usize,
    max: usize,
    utf8: bool,
}

impl PayloadCheck {
    /// The check for `args`, which passed [`check_args`].
    pub fn new(args: &[ArgSpec]) -> Self {
        let (range, fixed) = match args.split_last() {
            Some((last, rest)) if last.shape == SHAPE_RANGE => (
                Some(RangeCheck {
                    elem_size: usize::from(last.elem_size).max(1),
                    min: last.min as usize,
                    max: last.max as usize,
                    utf8: last.kind == ARG_STR,
                }),
                rest,
            ),
            _ => (None, args),
        };
        let fixed_len = fixed
            .iter()
            .map(|a| usize::from(a.elem_size) * a.min as usize)
            .sum();
        Self { fixed_len, range }
    }

    /// Checks `payload`; see [`check_payload`].
    #[inline]
    pub fn check(&self, payload: &[u8]) -> Result<(), Violation> {
        let Some(rest) = payload.len().checked_sub(self.fixed_len) else {
            return Err(Violation::WrongSize);
        };
        let Some(range) = self.range else {
            return if rest == 0 {
                Ok(())
            } else {
                Err(Violation::WrongSize)
            };
        };
        // Byte ranges (the most common: an echo's payload) skip a 64-bit
        // division, tens of cycles on every message.
        let (count, partial) = if range.elem_size == 1 {
            (rest, 0)
        } else {
            (rest / range.elem_size, rest % range.elem_size)
        };
        if partial != 0 || count < range.min || count > range.max {
            return Err(Violation::WrongSize);
        }
        if range.utf8 && std::str::from_utf8(&payload[self.fixed_len..]).is_err() {
            return Err(Violation::WrongDataKind);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn spec(kind: u8, shape: u8, elem_size: u8, min: u32, max: u32) -> ArgSpec {
        ArgSpec {
            kind,
            shape,
            elem_size,
            reserved: 0,
            min,
            max,
        }
    }

    #[test]
    fn every_malformed_declaration_is_named() {
        let ok = spec(ARG_NET, SHAPE_SCALAR, 1, 1, 1);
        assert_eq!(check_args(&[ok; 15]), Ok(()));
        assert_eq!(check_args(&[ok; 16]), Err(LayoutError::TooManyArgs(16)));
        assert_eq!(
            check_args(&[spec(9, SHAPE_SCALAR, 1, 1, 1)]),
            Err(LayoutError::UnknownKind { index: 0, kind: 9 })
        );
        assert_eq!(
            check_args(&[ok, spec(ARG_NET, 0, 1, 1, 1)]),
            Err(LayoutError::UnknownShape { index: 1, shape: 0 })
        );
        assert_eq!(
            check_args(&[spec(ARG_NTOH, SHAPE_SCALAR, 3, 1, 1)]),
            Err(LayoutError::BadElementSize {
                index: 0,
                elem_size: 3
            })
        );
        assert_eq!(
            check_args(&[spec(ARG_STR, SHAPE_RANGE, 2, 0, 9)]),
            Err(LayoutError::BadElementSize {
                index: 0,
                elem_size: 2
            })
        );
        assert_eq!(
            check_args(&[spec(ARG_NET, SHAPE_SCALAR, 4, 2, 2)]),
            Err(LayoutError::BadCounts {
                index: 0,
                min: 2,
                max: 2
            })
        );
        assert_eq!(
            check_args(&[spec(ARG_NET, SHAPE_ARRAY, 4, 0, 0)]),
            Err(LayoutError::BadCounts {
                index: 0,
                min: 0,
                max: 0
            })
        );
        assert_eq!(
            check_args(&[spec(ARG_NET, SHAPE_RANGE, 4, 5, 4)]),
            Err(LayoutError::BadCounts {
                index: 0,
                min: 5,
                max: 4
            })
        );
        assert_eq!(
            check_args(&[spec(ARG_STR, SHAPE_ARRAY, 1, 3, 3)]),
            Err(LayoutError::StringNotRange(0))
        );
        assert_eq!(
            check_args(&[spec(ARG_STR, SHAPE_RANGE, 1, 0, 9), ok]),
            Err(LayoutError::RangeNotLast(0))
        );
    }

    #[test]
    fn the_const_check_names_what_an_app_author_got_wrong() {
        let scalar = spec(ARG_NET, SHAPE_SCALAR, 1, 1, 1);
        let range = spec(ARG_NTOH, SHAPE_RANGE, 2, 1, 10);
        assert_eq!(args_problem(&[scalar, range]), None);
        assert_eq!(
            args_problem(&[scalar; 16]),
            Some("rs_app!: at most 15 read arguments")
        );
        assert_eq!(
            args_problem(&[range, scalar]),
            Some("rs_app!: a range, str, bytes() or text() argument must be the last one")
        );
        assert_eq!(
            args_problem(&[spec(ARG_NTOH, SHAPE_RANGE, 2, 5, 2)]),
            Some("rs_app!: a range's MIN is above its MAX")
        );
        assert_eq!(
            args_problem(&[spec(ARG_NTOH, SHAPE_ARRAY, 2, 0, 0)]),
            Some("rs_app!: an array argument needs at least 1 element (N = 0)")
        );
        assert_eq!(
            args_problem(&[spec(ARG_NET, SHAPE_SCALAR, 3, 1, 1)]),
            Some("rs_app!: an invalid argument declaration")
        );
    }

    #[test]
    fn the_const_check_agrees_with_the_detailed_one() {
        let specs = [
            spec(ARG_NET, SHAPE_SCALAR, 1, 1, 1),
            spec(ARG_NTOH, SHAPE_ARRAY, 8, 3, 3),
            spec(ARG_STR, SHAPE_RANGE, 1, 0, 9),
            spec(ARG_STR, SHAPE_ARRAY, 1, 3, 3),
            spec(ARG_NET, SHAPE_RANGE, 4, 5, 4),
            spec(ARG_NET, SHAPE_SCALAR, 3, 1, 1),
            spec(7, SHAPE_SCALAR, 1, 1, 1),
            spec(ARG_NET, 9, 1, 1, 1),
        ];
        for a in specs {
            for b in specs {
                for list in [&[a][..], &[a, b]] {
                    assert_eq!(
                        args_problem(list).is_none(),
                        check_args(list).is_ok(),
                        "{list:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn fixed_layouts_need_the_exact_size() {
        let args = [
            spec(ARG_NET, SHAPE_SCALAR, 8, 1, 1),
            spec(ARG_NTOH, SHAPE_ARRAY, 2, 3, 3),
        ];
        assert_eq!(check_payload(&args, &[0; 14]), Ok(()));
        assert_eq!(check_payload(&args, &[0; 13]), Err(Violation::WrongSize));
        assert_eq!(check_payload(&args, &[0; 15]), Err(Violation::WrongSize));
        assert_eq!(check_payload(&[], &[]), Ok(()));
        assert_eq!(check_payload(&[], &[0]), Err(Violation::WrongSize));
    }

    #[test]
    fn ranges_accept_zero_to_max_whole_elements() {
        let args = [spec(ARG_NET, SHAPE_RANGE, 4, 0, 16)];
        for count in 0..=16 {
            assert_eq!(check_payload(&args, &vec![0; 4 * count]), Ok(()), "{count}");
        }
        assert_eq!(
            check_payload(&args, &[0; 4 * 17]),
            Err(Violation::WrongSize)
        );
        assert_eq!(check_payload(&args, &[0; 5]), Err(Violation::WrongSize));
    }

    #[test]
    fn strings_are_checked_for_utf8_after_their_size() {
        let args = [
            spec(ARG_NET, SHAPE_SCALAR, 1, 1, 1),
            spec(ARG_STR, SHAPE_RANGE, 1, 1, 4),
        ];
        assert_eq!(check_payload(&args, b"\x01ok"), Ok(()));
        assert_eq!(check_payload(&args, "\x01笑".as_bytes()), Ok(()));
        assert_eq!(check_payload(&args, b"\x01"), Err(Violation::WrongSize));
        assert_eq!(
            check_payload(&args, b"\x01toolong"),
            Err(Violation::WrongSize)
        );
        assert_eq!(
            check_payload(&args, b"\x01\xff"),
            Err(Violation::WrongDataKind)
        );
    }

    #[test]
    fn violations_map_to_the_seed_close_codes() {
        assert_eq!(Violation::WrongSize.close_code(), 4900);
        assert_eq!(Violation::WrongDataKind.close_code(), 4901);
        assert_eq!(Violation::UnknownCase.close_code(), 4902);
    }
}
