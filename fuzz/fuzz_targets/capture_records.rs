//! Records read from a capture topic are untrusted bytes (any client can write to it):
//! decoding them and putting captures together must never panic, whatever the headers,
//! chunk numbers, sizes and order. Records are split on 0xFF; in each, `name: value` lines
//! up to an empty line are the headers, the rest the payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailtest::capture::assemble::Assembler;
use mailtest::capture::record::decode;

fuzz_target!(|data: &[u8]| {
    let mut assembler = Assembler::default();
    for (offset, record) in data.split(|b| *b == 0xff).enumerate() {
        let (head, payload) = match record.windows(2).position(|w| w == b"\n\n") {
            Some(at) => (&record[..at], &record[at + 2..]),
            None => (record, &[][..]),
        };
        let headers: Vec<(String, Vec<u8>)> = head
            .split(|b| *b == b'\n')
            .filter_map(|line| {
                let at = line.iter().position(|b| *b == b':')?;
                let name = String::from_utf8_lossy(&line[..at]).into_owned();
                Some((name, line[at + 1..].trim_ascii().to_vec()))
            })
            .collect();
        if let Ok(piece) = decode(&headers, payload) {
            let partition = i32::from(record.first().copied().unwrap_or(0) % 4);
            let _ = assembler.push((partition, offset as i64), piece);
        }
        let _ = assembler.holds();
    }
});
