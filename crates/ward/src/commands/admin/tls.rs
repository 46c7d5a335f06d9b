//! `ward admin tls self-signed`: a certificate for a gate in development. Production gates
//! use a certificate from a real CA; the files have the same shape.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;

use crate::cli::TlsCommand;

/// How long a self-signed certificate is valid.
const VALIDITY_DAYS: i64 = 365;

pub fn run(command: TlsCommand) -> anyhow::Result<()> {
    let TlsCommand::SelfSigned { cert, key, hosts, force } = command;
    let signing_key = rcgen::KeyPair::generate().context("generating the key")?;
    let mut params = rcgen::CertificateParams::new(hosts.clone()).context("certificate names")?;
    // One year from today: long enough for development, short enough to be replaced.
    let now = ward_core::Clock::now(&ward_core::SystemClock);
    let date = |t: i64| {
        let (y, m, d) = ward_core::clock::civil_date(t);
        rcgen::date_time_ymd(y as i32, m as u8, d as u8)
    };
    params.not_before = date(now);
    params.not_after = date(now + VALIDITY_DAYS * 86_400);
    let certificate = params.self_signed(&signing_key).context("signing the certificate")?;
    write(&cert, certificate.pem().as_bytes(), 0o644, force)?;
    write(&key, signing_key.serialize_pem().as_bytes(), 0o600, force)?;
    println!(
        "wrote {} and {} (valid for {}, for {VALIDITY_DAYS} days)",
        cert.display(),
        key.display(),
        hosts.join(", ")
    );
    println!("clients verify it with sslmode=verify-full sslrootcert={}", cert.display());
    Ok(())
}

fn write(path: &Path, contents: &[u8], mode: u32, force: bool) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    let mut file = options.open(path).with_context(|| format!("{} (use --force to replace it)", path.display()))?;
    file.write_all(contents).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
