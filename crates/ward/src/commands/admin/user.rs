//! `ward admin user …`. Passwords come from the terminal (asked twice, not echoed) or from
//! standard input with `--password-stdin`, never from the command line, where `ps` and shell
//! history would see them.

use std::fmt::Write as _;
use std::io::{BufRead as _, IsTerminal as _};

use anyhow::{Context as _, bail};
use ward_config::Config;
use ward_core::SystemClock;
use ward_oauth::users::{NewUser, UserAdmin};
use ward_store::{SqlStore, UserRecord};

use super::{emit, format_time};
use crate::cli::UserCommand;
use ward_core::Clock as _;
use ward_store::GrantStore as _;

pub async fn run(config: &Config, store: &SqlStore, command: UserCommand) -> anyhow::Result<()> {
    let admin = UserAdmin { store, clock: &SystemClock, hashing: ward_server::bootstrap::password_hashing(config) };
    match command {
        UserCommand::Create(args) => {
            let args = *args;
            let password = read_password(args.password_stdin)?;
            let user = admin
                .create_user(NewUser {
                    username: args.username,
                    password: Some(password),
                    roles: args.roles,
                    groups: args.groups,
                    tenant: args.tenant,
                    email: args.email,
                    name: args.name,
                })
                .await?;
            emit(args.output, &user, || format!("created user {}\n{}", user.username, describe(&user)))
        }
        UserCommand::List(output) => {
            let users = admin.list_users().await?;
            emit(output, &users, || {
                let mut out = format!("{:<32} {:<9} {:<24} {}\n", "USERNAME", "STATE", "ROLES", "EMAIL");
                for u in &users {
                    let _ = writeln!(
                        out,
                        "{:<32} {:<9} {:<24} {}",
                        u.username,
                        state(u),
                        list(&u.roles),
                        u.email.as_deref().unwrap_or("-")
                    );
                }
                out
            })
        }
        UserCommand::Sessions { username, output } => {
            admin.get_user(&username).await?;
            let sessions = ward_oauth::grant_admin::sessions_of(store, &username, SystemClock.now()).await?;
            emit(output, &sessions, || {
                let mut out = format!(
                    "{:<24} {:<24} {:<8} {:<20} {:<20} {}\n",
                    "SESSION", "CLIENT", "STATE", "CREATED", "LAST USED", "SCOPES"
                );
                for s in &sessions {
                    let _ = writeln!(
                        out,
                        "{:<24} {:<24} {:<8} {:<20} {:<20} {}",
                        s.grant.grant_id,
                        s.grant.client_id,
                        s.state,
                        format_time(s.grant.created_at),
                        format_time(s.grant.last_used_at),
                        s.grant.scopes
                    );
                }
                out
            })
        }
        UserCommand::Revoke { username, grant, all, output } => {
            admin.get_user(&username).await?;
            let now = SystemClock.now();
            let revoked: Vec<String> = if all {
                ward_oauth::grant_admin::revoke_all_grants(store, &username, now).await?
            } else {
                let id = grant.unwrap_or_default();
                let own = store.get_grant(&id).await?.is_some_and(|g| {
                    g.subject_kind == ward_store::SubjectKind::User && g.subject == username && g.revoked_at.is_none()
                });
                anyhow::ensure!(own, "user {username} has no active session {id}");
                store.revoke_grant(&id, now).await?;
                vec![id]
            };
            emit(output, &serde_json::json!({ "revoked": revoked }), || {
                format!(
                    "revoked {} session(s) of {username}; running nodes stop accepting their tokens within revocation_sync_interval",
                    revoked.len()
                )
            })
        }
        UserCommand::Show { username, output } => {
            let user = admin.get_user(&username).await?;
            emit(output, &user, || describe(&user))
        }
        UserCommand::Disable { username, output } => {
            let user = admin.set_disabled(&username, true).await?;
            emit(output, &user, || format!("disabled user {username}"))
        }
        UserCommand::Enable { username, output } => {
            let user = admin.set_disabled(&username, false).await?;
            emit(output, &user, || format!("enabled user {username}"))
        }
        UserCommand::Delete { username } => {
            admin.delete_user(&username).await?;
            println!("deleted user {username}");
            Ok(())
        }
        UserCommand::SetPassword { username, password_stdin } => {
            admin.get_user(&username).await?;
            let password = read_password(password_stdin)?;
            admin.set_password(&username, &password).await?;
            println!("set the password of user {username}");
            Ok(())
        }
        UserCommand::AddRole { username, role, output } => {
            let user = admin.add_role(&username, &role).await?;
            emit(output, &user, || format!("user {username} has roles {}", list(&user.roles)))
        }
        UserCommand::RemoveRole { username, role, output } => {
            let user = admin.remove_role(&username, &role).await?;
            emit(output, &user, || format!("user {username} has roles {}", list(&user.roles)))
        }
    }
}

/// The first line of standard input, or asked for twice on the terminal.
fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading the password from standard input")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for the password on: pass it on standard input with --password-stdin");
    }
    let first = rpassword::prompt_password("Password: ").context("reading the password")?;
    let again = rpassword::prompt_password("Again: ").context("reading the password")?;
    if first != again {
        bail!("the passwords differ");
    }
    Ok(first)
}

fn state(u: &UserRecord) -> &'static str {
    if u.disabled { "disabled" } else { "active" }
}

fn list(values: &[String]) -> String {
    if values.is_empty() { "-".into() } else { values.join(" ") }
}

fn describe(u: &UserRecord) -> String {
    format!(
        "username:  {}\nstate:     {}\nname:      {}\nemail:     {}\nroles:     {}\ngroups:    {}\ntenant:    {}\npassword:  {}\ncreated:   {} UTC\n",
        u.username,
        state(u),
        u.name.as_deref().unwrap_or("-"),
        u.email.as_deref().unwrap_or("-"),
        list(&u.roles),
        list(&u.groups),
        u.tenant.as_deref().unwrap_or("-"),
        if u.password_hash.is_some() { "set" } else { "none" },
        format_time(u.created_at),
    )
}
