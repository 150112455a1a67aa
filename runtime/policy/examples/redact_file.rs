//! The work of `warden redact FILE` in plain mode without the rest of the
//! binary: load and compile the default policy, stream the file through a
//! [`StreamRedactor`] in 1 MiB reads (or READ_KIB), write to stdout. For measuring the
//! whole process on one core next to other scanners (see benches/redact.rs):
//!
//! `cargo build --release -p warden-policy --example redact_file`
//! `taskset -c 1 target/release/examples/redact_file FILE [READ_KIB] > /dev/null`

use std::io::{Read, Write};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: redact_file FILE [READ_KIB]")?;
    let kib: usize = std::env::args().nth(2).map_or(Ok(1024), |s| s.parse())?;
    let engine = warden_policy::PolicySource::embedded()?.compile()?;
    let mut input = std::fs::File::open(path)?;
    let mut out = std::io::stdout().lock();
    let mut session = warden_redact::Session::new();
    let mut stream = engine.stream();
    let mut buf = vec![0u8; kib << 10];
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        out.write_all(stream.push(&buf[..n], &mut session)?.as_bytes())?;
    }
    out.write_all(stream.finish(&mut session)?.as_bytes())?;
    Ok(())
}
