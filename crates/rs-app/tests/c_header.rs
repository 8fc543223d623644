//! `include/ringsocket_app.h` describes the same ABI as `rs_app::abi`: every
//! struct's size, alignment and field offsets, and every constant listed
//! here, are checked by compiling the header with `_Static_assert`s made
//! from the Rust definitions. A C app built against a header that drifted
//! would corrupt memory at run time; here it fails to compile. (Field
//! signedness and function pointers' parameters are not seen: the C apps'
//! tests in `bins/ringsocket/tests/c_apps.rs` call every host function.)

use std::fmt::Write as _;
use std::mem::{align_of, offset_of, size_of};
use std::path::Path;
use std::process::Command;

use rs_app::abi;

/// `_Static_assert`s for one struct: its size, alignment and each field's
/// offset, the C type and the fields named as in Rust.
macro_rules! layout {
    ($out:ident, $c:literal, $rust:ty, [$($field:ident),+ $(,)?]) => {{
        writeln!(
            $out,
            "_Static_assert(sizeof({c}) == {}, \"sizeof({c})\");\n\
             _Static_assert(_Alignof({c}) == {}, \"_Alignof({c})\");",
            size_of::<$rust>(),
            align_of::<$rust>(),
            c = $c,
        )
        .unwrap();
        $(
            writeln!(
                $out,
                "_Static_assert(offsetof({c}, {f}) == {}, \"{c}.{f}\");",
                offset_of!($rust, $field),
                c = $c,
                f = stringify!($field),
            )
            .unwrap();
        )+
    }};
}

/// `_Static_assert`s that each C constant has the Rust value.
macro_rules! constants {
    ($out:ident, [$($c:literal = $value:expr),+ $(,)?]) => {{
        $(
            writeln!(
                $out,
                "_Static_assert({c} == {v}, \"{c} is {v} in rs_app::abi\");",
                c = $c,
                v = i64::from($value),
            )
            .unwrap();
        )+
    }};
}

/// The C translation unit that checks the header.
fn checks() -> String {
    let mut c = String::from("#include <ringsocket_app.h>\n");
    layout!(
        c,
        "rs_app_descriptor",
        abi::AppDescriptor,
        [
            abi_version,
            descriptor_size,
            init,
            open,
            close,
            timer,
            fini,
            read_mode,
            timer_mode,
            reserved,
            timer_interval_us,
            app_data_size,
            app_data_align,
            cases,
            case_count,
        ]
    );
    layout!(
        c,
        "rs_read_case",
        abi::ReadCase,
        [value, data_kind, reserved, read, args, arg_count]
    );
    layout!(
        c,
        "rs_arg_spec",
        abi::ArgSpec,
        [kind, shape, elem_size, reserved, min, max]
    );
    layout!(c, "rs_ctx", abi::Ctx, [api, host]);
    layout!(
        c,
        "rs_host_api",
        abi::HostApi,
        [
            abi_version,
            size,
            write,
            send,
            close_client,
            client_id,
            endpoint_id,
            client_addr,
            read_data_kind,
            conf,
            app_data,
            log,
            subprotocol,
            query,
            header,
        ]
    );
    layout!(
        c,
        "rs_peer_addr",
        abi::PeerAddr,
        [ip, port, version, reserved]
    );
    layout!(
        c,
        "rs_app_conf",
        abi::AppConf,
        [
            name,
            name_len,
            worker_c,
            max_ws_msg_size,
            wbuf_size,
            fd_alloc_c,
            shutdown_wait_ws,
        ]
    );
    constants!(
        c,
        [
            "RS_ABI_VERSION" = abi::ABI_VERSION,
            "RS_READ_BIN" = abi::READ_BIN,
            "RS_READ_UTF8" = abi::READ_UTF8,
            "RS_READ_ANY" = abi::READ_ANY,
            "RS_READ_SWITCH" = abi::READ_SWITCH,
            "RS_TIMER_NONE" = abi::TIMER_NONE,
            "RS_TIMER_SLEEP" = abi::TIMER_SLEEP,
            "RS_TIMER_WAKE" = abi::TIMER_WAKE,
            "RS_DATA_BIN" = abi::DATA_BIN,
            "RS_DATA_UTF8" = abi::DATA_UTF8,
            "RS_DATA_ANY" = abi::DATA_ANY,
            "RS_ARG_NET" = abi::ARG_NET,
            "RS_ARG_NTOH" = abi::ARG_NTOH,
            "RS_ARG_STR" = abi::ARG_STR,
            "RS_SHAPE_SCALAR" = abi::SHAPE_SCALAR,
            "RS_SHAPE_ARRAY" = abi::SHAPE_ARRAY,
            "RS_SHAPE_RANGE" = abi::SHAPE_RANGE,
            "RS_MAX_ARGS" = u8::try_from(abi::MAX_ARGS).unwrap(),
            "RS_TARGET_SINGLE" = abi::TARGET_SINGLE,
            "RS_TARGET_MULTI" = abi::TARGET_MULTI,
            "RS_TARGET_CUR" = abi::TARGET_CUR,
            "RS_TARGET_EVERY" = abi::TARGET_EVERY,
            "RS_TARGET_EVERY_EXCEPT_SINGLE" = abi::TARGET_EVERY_EXCEPT_SINGLE,
            "RS_TARGET_EVERY_EXCEPT_MULTI" = abi::TARGET_EVERY_EXCEPT_MULTI,
            "RS_TARGET_EVERY_EXCEPT_CUR" = abi::TARGET_EVERY_EXCEPT_CUR,
            "RS_SEND_OK" = abi::SEND_OK,
            "RS_SEND_NO_CURRENT_CLIENT" = abi::SEND_NO_CURRENT_CLIENT,
            "RS_SEND_INVALID_UTF8" = abi::SEND_INVALID_UTF8,
            "RS_SEND_TOO_LARGE" = abi::SEND_TOO_LARGE,
            "RS_SEND_INVALID_ARGUMENT" = abi::SEND_INVALID_ARGUMENT,
            "RS_SEND_NOT_AVAILABLE" = abi::SEND_NOT_AVAILABLE,
            "RS_SEND_SHUTTING_DOWN" = abi::SEND_SHUTTING_DOWN,
            "RS_STATUS_PANICKED" = abi::STATUS_PANICKED,
            "RS_LOG_ERROR" = abi::LOG_ERROR,
            "RS_LOG_WARNING" = abi::LOG_WARNING,
            "RS_LOG_NOTICE" = abi::LOG_NOTICE,
            "RS_LOG_INFO" = abi::LOG_INFO,
            "RS_LOG_DEBUG" = abi::LOG_DEBUG,
            "RS_CLOSE_WRONG_SIZE" = abi::close_codes::WRONG_SIZE,
            "RS_CLOSE_WRONG_DATA_KIND" = abi::close_codes::WRONG_DATA_KIND,
            "RS_CLOSE_UNKNOWN_CASE" = abi::close_codes::UNKNOWN_CASE,
            "RS_CLOSE_APP_MIN" = *abi::close_codes::APP_RANGE.start(),
            "RS_CLOSE_APP_MAX" = *abi::close_codes::APP_RANGE.end(),
        ]
    );
    // The entry point's declaration in the header has the Rust name and
    // type: a definition that differs in either does not compile.
    writeln!(
        c,
        "const rs_app_descriptor *{}(void) {{ return 0; }}",
        abi::ENTRY_SYMBOL
    )
    .unwrap();
    c
}

/// Compiles `source` with the header on the include path, warnings as
/// errors; returns the compiler's diagnostics when it fails.
fn compile(source: &str) -> Result<(), String> {
    compile_as("c11", source)
}

/// [`compile`] for the C standard `standard`.
fn compile_as(standard: &str, source: &str) -> Result<(), String> {
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("include");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("check.c");
    std::fs::write(&file, source).unwrap();
    let output = Command::new("cc")
        .arg(format!("-std={standard}"))
        .args([
            "-Wall",
            "-Wextra",
            "-Wpedantic",
            "-Werror",
            "-fsyntax-only",
            "-I",
        ])
        .arg(&include)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `cc` (a C compiler is needed): {e}"));
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

#[test]
fn the_c_header_matches_the_rust_abi_field_by_field() {
    if let Err(errors) = compile(&checks()) {
        panic!("include/ringsocket_app.h differs from rs_app::abi:\n{errors}");
    }
}

#[test]
fn a_wrong_layout_or_constant_in_the_header_would_be_caught() {
    // The checks are real: a wrong offset and a wrong value each fail.
    let wrong_offset = checks().replace(
        "offsetof(rs_host_api, log) == 80",
        "offsetof(rs_host_api, log) == 72",
    );
    assert_ne!(wrong_offset, checks(), "the replaced check is missing");
    let errors = compile(&wrong_offset).unwrap_err();
    assert!(errors.contains("rs_host_api.log"), "{errors}");
    let wrong_value = checks().replace("RS_SEND_SHUTTING_DOWN == 6", "RS_SEND_SHUTTING_DOWN == 7");
    assert_ne!(wrong_value, checks(), "the replaced check is missing");
    let errors = compile(&wrong_value).unwrap_err();
    assert!(errors.contains("RS_SEND_SHUTTING_DOWN is 6"), "{errors}");
}

#[test]
fn the_c_header_compiles_as_c99_too() {
    // Its layout checks take another form before C11.
    let source = "#include <ringsocket_app.h>\nint main(void) { return RS_SEND_OK; }\n";
    if let Err(errors) = compile_as("c99", source) {
        panic!("include/ringsocket_app.h is not valid C99:\n{errors}");
    }
    // And those checks hold: a wrong size is refused there too.
    let header = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("include/ringsocket_app.h"),
    )
    .unwrap();
    let size = size_of::<abi::HostApi>();
    let wrong = header.replace(
        &format!("sizeof(rs_host_api) == {size}"),
        &format!("sizeof(rs_host_api) == {}", size + 8),
    );
    assert_ne!(wrong, header, "the replaced check is missing");
    let errors =
        compile_as("c99", &format!("{wrong}\nint main(void) {{ return 0; }}\n")).unwrap_err();
    assert!(errors.contains("rs_static_assert_"), "{errors}");
}

#[test]
fn the_seeds_data_kind_enum_compiles_and_passes_to_the_senders() {
    // Seed code names the enum, and passes its values to the senders.
    let source = "#include <ringsocket_app.h>\n\
        int32_t reply(rs_t *rs) { enum rs_data_kind kind = RS_BIN; return rs_to_cur(rs, kind); }\n\
        int main(void) { return RS_UTF8 == RS_DATA_UTF8 ? 0 : 1; }\n";
    if let Err(errors) = compile(source) {
        panic!("seed-style enum rs_data_kind does not compile:\n{errors}");
    }
}
