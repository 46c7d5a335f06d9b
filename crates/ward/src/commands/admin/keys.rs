//! `ward admin keys …`.

use std::fmt::Write as _;
use std::sync::Arc;

use serde_json::json;
use ward_config::Config;
use ward_core::{Clock as _, SigningAlg, SystemClock};
use ward_oauth::admin::Admin;
use ward_store::SqlStore;
use ward_token::OsEntropy;

use super::{emit, format_time};
use crate::cli::KeysCommand;

pub async fn run(config: &Config, store: &SqlStore, command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Rotate { alg, now, output } => {
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
            let (kid, rotation) = oauth.rotate_signing_key(alg, now).await?;
            let body = json!({
                "kid": kid,
                "alg": alg,
                "published_from": rotation.published_from,
                "active_from": rotation.active_from,
                "previous_published_until": rotation.previous_published_until,
            });
            let max_age = config.tokens.jwks_max_age().as_secs();
            let reload = config.tokens.key_reload_interval.as_secs();
            emit(output, &body, || {
                let mut out = format!("new {alg} key {kid}\n");
                if now {
                    let _ = writeln!(
                        out,
                        "signing now. The cost of skipping the staging: resource servers that cached the JWKS \
                         (max-age {max_age} s) refuse the new tokens until they fetch it again, and other nodes \
                         sign with the old key for up to {reload} s more (they verify the new one at once)."
                    );
                } else {
                    let _ = writeln!(
                        out,
                        "published from {} UTC on every node, signing from {} UTC",
                        format_time(rotation.published_from),
                        format_time(rotation.active_from)
                    );
                }
                let _ = write!(
                    out,
                    "the previous key stays in the JWKS until {} UTC, when its last tokens have expired",
                    format_time(rotation.previous_published_until)
                );
                out
            })
        }
        KeysCommand::List(output) => {
            let keys = Admin { store, clock: &SystemClock, entropy: &OsEntropy }.list_keys().await?;
            emit(output, &keys, || {
                let now = SystemClock.now();
                let mut out = format!(
                    "{:<45} {:<6} {:<8} {:<20} {:<20} {}\n",
                    "KID", "ALG", "STATE", "SIGNS FROM (UTC)", "PUBLISHED FROM (UTC)", "PUBLISHED UNTIL"
                );
                let signing = keys.iter().filter(|k| k.active_from <= now).map(|k| k.active_from).max();
                for k in &keys {
                    let state = match () {
                        _ if k.publish_until.is_some_and(|until| until <= now) => "expired",
                        _ if k.active_from > now => "staged",
                        _ if Some(k.active_from) == signing => "signing",
                        _ => "retired",
                    };
                    let until = k.publish_until.map_or("-".to_owned(), format_time);
                    let _ = writeln!(
                        out,
                        "{:<45} {:<6} {:<8} {:<20} {:<20} {}",
                        k.kid,
                        k.alg,
                        state,
                        format_time(k.active_from),
                        format_time(k.published_from),
                        until
                    );
                }
                out
            })
        }
    }
}
