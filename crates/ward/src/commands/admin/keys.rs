//! `ward admin keys …`.

use std::fmt::Write as _;
use std::sync::Arc;

use serde_json::json;
use ward_config::Config;
use ward_core::{SigningAlg, SystemClock};
use ward_oauth::admin::Admin;
use ward_store::SqlStore;
use ward_token::OsEntropy;

use super::{emit, format_time};
use crate::cli::KeysCommand;

pub async fn run(config: &Config, store: &SqlStore, command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Rotate { alg, output } => {
            let alg: SigningAlg = match alg {
                Some(a) => a.parse()?,
                None => config.tokens.signing_alg,
            };
            let kek = ward_server::bootstrap::load_kek(config, &OsEntropy)?;
            let settings = ward_server::bootstrap::settings(config);
            let oauth = ward_oauth::AuthorizationServer::start(
                store.clone(),
                settings,
                kek,
                Arc::new(SystemClock),
                Arc::new(OsEntropy),
            )
            .await?;
            let kid = oauth.rotate_signing_key(alg).await?;
            emit(output, &json!({ "kid": kid, "alg": alg }), || {
                format!(
                    "new active {alg} key {kid}\nrunning servers pick it up within 30 s; the previous key stays in the JWKS until its tokens expire"
                )
            })
        }
        KeysCommand::List(output) => {
            let keys = Admin { store, clock: &SystemClock, entropy: &OsEntropy }.list_keys().await?;
            emit(output, &keys, || {
                let mut out = format!(
                    "{:<45} {:<6} {:<8} {:<20} {}\n",
                    "KID", "ALG", "STATE", "CREATED (UTC)", "PUBLISHED UNTIL"
                );
                for k in &keys {
                    let state = if k.active { "active" } else { "retired" };
                    let until = k.publish_until.map_or("-".to_owned(), format_time);
                    let _ = writeln!(
                        out,
                        "{:<45} {:<6} {:<8} {:<20} {}",
                        k.kid,
                        k.alg,
                        state,
                        format_time(k.created_at),
                        until
                    );
                }
                out
            })
        }
    }
}
