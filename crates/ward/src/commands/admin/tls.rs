//! `ward admin tls self-signed`: a certificate for a gate in development. Production gates
//! use a certificate from a real CA; the files have the same shape.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;

use crate::cli::TlsCommand;

pub fn run(command: TlsCommand) -> anyhow::Result<()> {
    let TlsCommand::SelfSigned { cert, key, hosts, force } = command;
    let generated = rcgen::generate_simple_self_signed(hosts.clone()).context("generating the certificate")?;
    write(&cert, generated.cert.pem().as_bytes(), 0o644, force)?;
    write(&key, generated.signing_key.serialize_pem().as_bytes(), 0o600, force)?;
    println!("wrote {} and {} (valid for {})", cert.display(), key.display(), hosts.join(", "));
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
