//! Fuzz target: any bytes as an SMTP command line must parse to some command, never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let command = mailtest::smtp::command::parse(data);
    let _ = command.verb();
});
