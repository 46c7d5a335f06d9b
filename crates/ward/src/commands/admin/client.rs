//! `ward admin client …`.

use std::fmt::Write as _;

use anyhow::Context as _;
use serde_json::json;
use ward_core::{ClientType, GrantType, ScopeSet};
use ward_oauth::admin::{NewClient, SignInOptions};
use ward_store::ClientRecord;

use super::{AdminCtx, emit, format_time};
use crate::cli::{ClientCommand, ClientTypeArg, CreateClient};

pub async fn run(admin: &AdminCtx<'_>, command: ClientCommand) -> anyhow::Result<()> {
    match command {
        ClientCommand::Create(args) => create(admin, *args).await,
        ClientCommand::List(output) => {
            let clients = admin.list_clients().await?;
            emit(output, &clients, || {
                let mut out =
                    format!("{:<24} {:<13} {:<20} {:<28} {}\n", "CLIENT ID", "TYPE", "AUTH", "GRANTS", "NAME");
                for c in &clients {
                    let _ = writeln!(
                        out,
                        "{:<24} {:<13} {:<20} {:<28} {}",
                        c.client_id,
                        c.client_type,
                        c.auth_method,
                        grants(c),
                        c.name
                    );
                }
                out
            })
        }
        ClientCommand::Show { client_id, output } => {
            let client = admin.get_client(&client_id).await?;
            emit(output, &client, || describe(&client))
        }
        ClientCommand::Delete { client_id, output } => {
            admin.delete_client(&client_id).await?;
            emit(output, &json!({ "deleted": client_id }), || format!("deleted client {client_id}"))
        }
        ClientCommand::RotateSecret { client_id, output } => {
            let secret = admin.rotate_secret(&client_id).await?;
            emit(output, &json!({ "client_id": client_id, "client_secret": secret }), || {
                format!("new secret for {client_id} (shown once; the old one no longer works):\n{secret}")
            })
        }
    }
}

async fn create(admin: &AdminCtx<'_>, args: CreateClient) -> anyhow::Result<()> {
    let grant_types = if args.grant_types.is_empty() {
        None
    } else {
        Some(args.grant_types.iter().map(|g| g.parse::<GrantType>()).collect::<Result<Vec<_>, _>>()?)
    };
    let scopes = ScopeSet::parse(&args.scopes.join(" "))?;
    let jwks = match &args.jwks {
        Some(path) => Some(std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?),
        None => None,
    };
    let created = admin
        .create_client(NewClient {
            client_id: args.client_id,
            name: args.name,
            client_type: match args.client_type {
                ClientTypeArg::Confidential => ClientType::Confidential,
                ClientTypeArg::Public => ClientType::Public,
            },
            grant_types,
            redirect_uris: args.redirect_uris,
            scopes,
            auth_method: args.auth_method.as_deref().map(str::parse).transpose()?,
            jwks,
            jwks_uri: args.jwks_uri,
            skip_consent: args.skip_consent,
            may_introspect: args.introspect,
            roles: args.roles,
            tenant: args.tenant,
            sign_in: SignInOptions {
                post_logout_redirect_uris: args.post_logout_redirect_uris,
                pkce_optional: args.pkce_optional,
                require_par: args.require_par,
                fixed_refresh_tokens: args.fixed_refresh_tokens,
            },
        })
        .await?;
    emit(args.output, &created, || {
        let mut out = describe(&created.client);
        if let Some(secret) = &created.client_secret {
            let _ = write!(out, "\nclient_secret: {secret}\n  (shown once: store it now; Ward keeps only a hash)\n");
        }
        out
    })
}

fn grants(c: &ClientRecord) -> String {
    let list: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
    if list.is_empty() { "-".into() } else { list.join(",") }
}

fn list_or_dash<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let list: Vec<&str> = items.collect();
    if list.is_empty() { "-".into() } else { list.join(" ") }
}

fn describe(c: &ClientRecord) -> String {
    let uris: Vec<&str> = c.redirect_uris.iter().map(|u| u.as_str()).collect();
    let keys = match (&c.jwks, &c.jwks_uri) {
        (Some(_), _) => "inline JWK set".to_owned(),
        (_, Some(uri)) => uri.clone(),
        _ => "-".to_owned(),
    };
    format!(
        "client_id:      {}\nname:           {}\ntype:           {}\nauth method:    {}\ngrant types:    {}\nscopes:         {}\nredirect URIs:  {}\nkeys:           {}\nskip consent:   {}\nintrospects:    {}\nroles:          {}\ntenant:         {}\nlogout URIs:    {}\nPKCE required:  {}\nPAR required:   {}\nrefresh:        {}\ncreated:        {} UTC\n",
        c.client_id,
        c.name,
        c.client_type,
        c.auth_method,
        grants(c),
        if c.scopes.is_empty() { "-".to_owned() } else { c.scopes.to_string() },
        if uris.is_empty() { "-".to_owned() } else { uris.join(" ") },
        keys,
        c.skip_consent,
        c.may_introspect,
        if c.roles.is_empty() { "-".to_owned() } else { c.roles.join(" ") },
        c.tenant.as_deref().unwrap_or("-"),
        list_or_dash(c.sign_in.post_logout_redirect_uris.iter().map(|u| u.as_str())),
        c.sign_in.require_pkce,
        c.sign_in.require_par,
        if c.sign_in.rotate_refresh_tokens { "rotating" } else { "fixed" },
        format_time(c.created_at),
    )
}
