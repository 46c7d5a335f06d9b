//! What the gate does with one client command, decided without a socket: answer it here
//! (refusals, and the connection commands the gate owns), or send it on with its keys located
//! and the shape of its reply known, so the reply can be given back without the prefix.
//!
//! The order of the checks is the order of the guarantees: nothing but AUTH, HELLO, PING,
//! QUIT and RESET before authentication (`-NOAUTH`); nothing the table does not list, and no
//! administrative command, ever (`-NOPERM`); nothing a scope does not permit (`-NOPERM`);
//! nothing whose keys cannot be confined (`-NOPERM`).

use crate::commands::{Access, KeyError, Keys, Spec, locate, lookup};
use crate::protocol::Args;
use crate::scripts::ApprovedScripts;

/// What the caller's token permits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Permissions {
    /// `cache:read` (or the configured name): read commands.
    pub read: bool,
    /// `cache:write`: write commands too.
    pub write: bool,
}

/// Connection commands the gate answers itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Own {
    /// `AUTH <token>` or `AUTH <user> <token>`.
    Auth,
    /// `HELLO [protover [AUTH user token] [SETNAME name]]`.
    Hello,
    Ping,
    Quit,
    Reset,
}

/// How a reply carries keys that must lose the prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyShape {
    /// No keys: passed on as it came.
    AsIs,
    /// An array of keys (KEYS).
    KeyArray,
    /// A cursor and an array of keys (SCAN).
    Scan,
    /// An array whose first element is a key, or a null (BLPOP, LMPOP, BZPOPMIN, …).
    KeyFirst,
    /// Per stream, its key and entries: an array of pairs, or a RESP3 map (XREAD, XREADGROUP).
    Streams,
    /// Subscription confirmations and messages, which name channels (SUBSCRIBE and friends).
    PubSub,
}

/// A refusal, as the client is told it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `-NOAUTH Authentication required.`
    NoAuth,
    /// `-NOPERM …`: not served through the gate, or not with this token's scopes.
    NoPerm(&'static str),
    NoPermOwned(String),
    /// `-NOPERM …`: the token's scopes do not permit this command (`write`: it writes).
    Scope {
        write: bool,
    },
    /// `-ERR …`: a command whose arguments do not fit it.
    Err(String),
}

impl Refusal {
    /// The error code and message of the RESP error.
    pub fn code_and_message(&self) -> (&'static str, &str) {
        match self {
            Self::NoAuth => ("NOAUTH", "Authentication required."),
            Self::NoPerm(message) => ("NOPERM", message),
            Self::NoPermOwned(message) => ("NOPERM", message),
            Self::Scope { write: false } => ("NOPERM", "this token's scopes do not permit reading"),
            Self::Scope { write: true } => ("NOPERM", "this token's scopes do not permit writing"),
            Self::Err(message) => ("ERR", message),
        }
    }
}

/// What to do with a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// An empty command: Redis ignores it, so does the gate.
    Nothing,
    /// A connection command the gate answers itself.
    Own(Own),
    /// Send it on: its keys (or patterns, for `patterns`) are at the positions `decide` filled
    /// in, and its reply has this shape.
    Forward { spec: &'static Spec, patterns: bool, reply: ReplyShape },
}

/// Decides what to do with the command in `args`; `keys` receives the positions to prefix.
pub fn decide(
    args: &Args,
    buf: &[u8],
    authenticated: bool,
    permissions: Permissions,
    scripts: &ApprovedScripts,
    keys: &mut Vec<usize>,
) -> Result<Decision, Refusal> {
    keys.clear();
    let Some(name) = args.get(buf, 0) else { return Ok(Decision::Nothing) };
    const OWN: [(&[u8], Own); 5] = [
        (b"AUTH", Own::Auth),
        (b"HELLO", Own::Hello),
        (b"PING", Own::Ping),
        (b"QUIT", Own::Quit),
        (b"RESET", Own::Reset),
    ];
    let own = OWN.iter().find(|(n, _)| name.eq_ignore_ascii_case(n)).map(|(_, o)| *o);
    // PING is the gate's own only before authentication; after, Redis answers it (with its
    // own argument echoed, and in pub/sub mode as a push).
    match own {
        Some(Own::Ping) if authenticated => {}
        Some(own) => return Ok(Decision::Own(own)),
        None => {}
    }
    if !authenticated {
        return Err(Refusal::NoAuth);
    }
    let Some(spec) = lookup(name) else {
        return Err(Refusal::NoPerm("this command is not served through the gate"));
    };
    match spec.access {
        Access::Admin => return Err(Refusal::NoPerm("administrative commands are not served through the gate")),
        Access::Read if !(permissions.read || permissions.write) => {
            return Err(Refusal::Scope { write: false });
        }
        Access::Write if !permissions.write => {
            return Err(Refusal::Scope { write: true });
        }
        _ => {}
    }
    let reply = match spec.name {
        "KEYS" => ReplyShape::KeyArray,
        "SCAN" => ReplyShape::Scan,
        // A random key of the whole keyspace cannot be confined to one namespace.
        "RANDOMKEY" => return Err(Refusal::NoPerm("RANDOMKEY cannot be confined to your namespace")),
        "BLPOP" | "BRPOP" | "BZPOPMIN" | "BZPOPMAX" | "LMPOP" | "BLMPOP" | "ZMPOP" | "BZMPOP" => ReplyShape::KeyFirst,
        "XREAD" | "XREADGROUP" => ReplyShape::Streams,
        _ if matches!(spec.keys, Keys::Channels { .. }) && !spec.name.contains("PUBLISH") => ReplyShape::PubSub,
        _ => ReplyShape::AsIs,
    };
    match spec.name {
        "KEYS" => {
            if args.len() != 2 {
                return Err(Refusal::Err("wrong number of arguments for 'keys' command".into()));
            }
            keys.push(1);
            return Ok(Decision::Forward { spec, patterns: true, reply });
        }
        "SCAN" => {
            if args.len() < 2 {
                return Err(Refusal::Err("wrong number of arguments for 'scan' command".into()));
            }
            return Ok(Decision::Forward { spec, patterns: true, reply });
        }
        _ => {}
    }
    match spec.name {
        "EVAL" | "EVAL_RO" => {
            let script = args.get(buf, 1).unwrap_or_default();
            scripts.approve(script).map_err(|e| Refusal::NoPermOwned(e.to_string()))?;
        }
        "EVALSHA" | "EVALSHA_RO" if !scripts.is_approved(args.get(buf, 1).unwrap_or_default()) => {
            return Err(Refusal::NoPerm("EVALSHA runs only scripts this gate has read: send the script with EVAL"));
        }
        _ => {}
    }
    locate(spec, args, buf, keys).map_err(|e| match e {
        KeyError::Unconfinable(why) => Refusal::NoPerm(why),
        KeyError::Arity | KeyError::Count => {
            Refusal::Err(format!("wrong number of arguments for '{}' command", spec.name.to_ascii_lowercase()))
        }
    })?;
    let patterns = matches!(spec.keys, Keys::Channels { patterns: true, .. });
    Ok(Decision::Forward { spec, patterns, reply })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::table::COMMANDS;
    use crate::protocol::{Limits, parse_command};

    const READ: Permissions = Permissions { read: true, write: false };
    const WRITE: Permissions = Permissions { read: true, write: true };
    const NONE: Permissions = Permissions { read: false, write: false };

    fn decided(line: &str, authenticated: bool, permissions: Permissions) -> Result<Decision, Refusal> {
        let input = format!("{line}\r\n");
        let mut args = Args::default();
        parse_command(input.as_bytes(), &Limits::CLIENT, &mut args).ok();
        decide(&args, input.as_bytes(), authenticated, permissions, &ApprovedScripts::default(), &mut Vec::new())
    }

    #[test]
    fn before_authentication_only_the_connection_commands_are_served() {
        for line in ["AUTH token", "auth user token", "HELLO 3 AUTH user token", "PING", "QUIT", "RESET"] {
            assert!(matches!(decided(line, false, NONE), Ok(Decision::Own(_))), "{line}");
        }
        for line in ["GET k", "SET k v", "KEYS *", "SELECT 1", "FLUSHALL", "NOSUCH", "ECHO hi", "MULTI"] {
            assert_eq!(decided(line, false, WRITE), Err(Refusal::NoAuth), "{line}");
        }
        assert_eq!(decided("", false, NONE), Ok(Decision::Nothing));
    }

    #[test]
    fn a_read_scope_permits_every_read_command_and_no_write_command() {
        for spec in COMMANDS {
            let line = format!("{} a b c d e f g h 1 i j STREAMS k l", spec.name);
            let read = decided(&line, true, READ);
            let write = decided(&line, true, WRITE);
            match spec.access {
                Access::Write => {
                    assert_eq!(read, Err(Refusal::Scope { write: true }), "{}", spec.name);
                    assert_ne!(write, Err(Refusal::Scope { write: true }));
                }
                Access::Admin => {
                    assert!(matches!(write, Err(Refusal::NoPerm(_))), "{} must never be served", spec.name);
                }
                Access::Read => {
                    assert_ne!(read, Err(Refusal::Scope { write: false }), "{}", spec.name);
                    assert_eq!(decided(&line, true, NONE), Err(Refusal::Scope { write: false }));
                }
                Access::Connection => {}
            }
        }
    }

    #[test]
    fn unknown_and_unconfinable_commands_are_refused() {
        assert!(matches!(decided("NOSUCHCOMMAND x", true, WRITE), Err(Refusal::NoPerm(_))));
        assert!(matches!(decided("RANDOMKEY", true, WRITE), Err(Refusal::NoPerm(_))));
        assert!(matches!(decided("SORT k BY w_*", true, WRITE), Err(Refusal::NoPerm(_))));
        assert!(matches!(decided("MIGRATE h 1 k 0 10", true, WRITE), Err(Refusal::NoPerm(_))));
        assert!(matches!(decided("CLIENT KILL ID 1", true, WRITE), Err(Refusal::NoPerm(_))));
        assert!(matches!(decided("EVAL \"return 1\" 5 a", true, WRITE), Err(Refusal::Err(_))));
        assert!(matches!(
            decided("EVAL \"return redis.call('GET', 'x')\" 0", true, WRITE),
            Err(Refusal::NoPermOwned(_))
        ));
        assert!(matches!(
            decided("EVALSHA e0e1f9fabfc9d4800c877a703b823ac0578ff8db 0", true, WRITE),
            Err(Refusal::NoPerm(_))
        ));
        assert!(matches!(decided("KEYS a b", true, WRITE), Err(Refusal::Err(_))));
    }

    #[test]
    fn evalsha_runs_what_an_eval_through_the_gate_approved() {
        let scripts = ApprovedScripts::default();
        let run = |line: &str| {
            let input = format!("{line}\r\n");
            let mut args = Args::default();
            parse_command(input.as_bytes(), &Limits::CLIENT, &mut args).ok();
            decide(&args, input.as_bytes(), true, WRITE, &scripts, &mut Vec::new())
        };
        let sha = crate::scripts::sha1_hex(b"return redis.call('GET', KEYS[1])");
        assert!(run(&format!("EVALSHA {sha} 1 k")).is_err());
        assert!(matches!(run("EVAL \"return redis.call('GET', KEYS[1])\" 1 k"), Ok(Decision::Forward { .. })));
        assert!(matches!(run(&format!("EVALSHA {sha} 1 k")), Ok(Decision::Forward { .. })));
    }

    #[test]
    fn replies_with_keys_are_known_by_their_shape() {
        let shape = |line: &str| match decided(line, true, WRITE) {
            Ok(Decision::Forward { reply, .. }) => Some(reply),
            _ => None,
        };
        assert_eq!(shape("KEYS *"), Some(ReplyShape::KeyArray));
        assert_eq!(shape("SCAN 0"), Some(ReplyShape::Scan));
        assert_eq!(shape("BLPOP a b 0"), Some(ReplyShape::KeyFirst));
        assert_eq!(shape("XREAD STREAMS s 0"), Some(ReplyShape::Streams));
        assert_eq!(shape("SUBSCRIBE ch"), Some(ReplyShape::PubSub));
        assert_eq!(shape("PUBLISH ch m"), Some(ReplyShape::AsIs));
        assert_eq!(shape("GET k"), Some(ReplyShape::AsIs));
        assert!(matches!(decided("PSUBSCRIBE *", true, READ), Ok(Decision::Forward { patterns: true, .. })));
        // After authentication, PING goes to Redis (pub/sub mode answers it differently).
        assert!(matches!(decided("PING", true, READ), Ok(Decision::Forward { .. })));
    }
}
