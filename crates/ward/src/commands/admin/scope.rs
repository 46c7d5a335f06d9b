//! `ward admin scope …`.

use std::fmt::Write as _;

use serde_json::json;

use super::{AdminCtx, emit};
use crate::cli::ScopeCommand;

pub async fn run(admin: &AdminCtx<'_>, command: ScopeCommand) -> anyhow::Result<()> {
    match command {
        ScopeCommand::Create { name, description, output } => {
            let scope = admin.create_scope(&name, &description).await?;
            emit(output, &scope, || format!("created scope {}", scope.name))
        }
        ScopeCommand::List(output) => {
            let scopes = admin.list_scopes().await?;
            emit(output, &scopes, || {
                let mut out = format!("{:<32} {}\n", "SCOPE", "DESCRIPTION");
                for s in &scopes {
                    let _ = writeln!(out, "{:<32} {}", s.name, s.description);
                }
                out
            })
        }
        ScopeCommand::Delete { name, output } => {
            admin.delete_scope(&name).await?;
            emit(output, &json!({ "deleted": name }), || format!("deleted scope {name}"))
        }
    }
}
