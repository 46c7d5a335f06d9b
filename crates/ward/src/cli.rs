//! Command-line definitions.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(name = "ward", version, about = "OAuth tokens instead of database passwords")]
pub struct Cli {
    /// Server flags may also come before the command (`ward --data-dir DIR admin …`).
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// The server's configuration sources. Only the server commands (`serve`, `migrate`,
/// `check-config`, `admin`) take them and read the server configuration; the client commands
/// read client profiles only, so a broken server setting never breaks `ward login`.
#[derive(Args, Debug, Clone, Default)]
pub struct ServerArgs {
    /// Configuration file (TOML).
    #[arg(long, env = "WARD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (SQLite database, generated key-encryption key).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Issuer URL, e.g. https://id.example.com.
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,
    /// Database URL (sqlite://… or postgres://…).
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
}

/// The same flags after a server command, and after any of `admin`'s subcommands.
#[derive(Args, Debug, Clone, Default)]
pub struct ServerScope {
    #[arg(long = "config", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[arg(long = "data-dir", global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    #[arg(long = "listen", global = true, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    #[arg(long = "issuer", global = true, value_name = "URL")]
    pub issuer: Option<String>,
    #[arg(long = "database", global = true, value_name = "URL")]
    pub database: Option<String>,
}

impl ServerArgs {
    /// These flags, with those given after the command taking precedence.
    pub fn merged(&self, scope: &ServerScope) -> ServerArgs {
        ServerArgs {
            config: scope.config.clone().or_else(|| self.config.clone()),
            data_dir: scope.data_dir.clone().or_else(|| self.data_dir.clone()),
            listen: scope.listen.or(self.listen),
            issuer: scope.issuer.clone().or_else(|| self.issuer.clone()),
            database: scope.database.clone().or_else(|| self.database.clone()),
        }
    }

    /// Whether any flag was given on the command line (`WARD_CONFIG` in the environment does
    /// not count: it is meant for the server and harmless to a client command).
    pub fn any_flag(&self) -> bool {
        self.data_dir.is_some() || self.listen.is_some() || self.issuer.is_some() || self.database.is_some()
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the issuer.
    Serve(ServerScope),
    /// Apply database migrations and exit.
    Migrate(ServerScope),
    /// Print the effective configuration, secrets redacted.
    CheckConfig(ServerScope),
    /// Administer clients, scopes and signing keys.
    Admin {
        #[command(flatten)]
        server: ServerScope,
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Sign in: in the browser (authorization code + PKCE), or with a device code.
    Login(LoginArgs),
    /// Print a valid access token, refreshed when less than a minute is left.
    Token {
        #[command(flatten)]
        client: ClientArgs,
        /// Print the whole token set as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Who you are signed in as.
    Whoami(ClientArgs),
    /// Revoke your tokens at the issuer and forget them.
    Logout(ClientArgs),
    /// Run psql through a gate with a fresh token: `ward psql [GATE] [-- psql args]`.
    Psql {
        #[command(flatten)]
        client: ClientArgs,
        /// A gate of the profile; the only one, or a local gate on 127.0.0.1:6432, by default.
        gate: Option<String>,
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Run redis-cli through a Redis gate with a fresh token: `ward redis-cli [GATE] [-- args]`.
    RedisCli {
        #[command(flatten)]
        client: ClientArgs,
        /// A Redis gate of the profile; the only one, or a local gate on 127.0.0.1:6380, by default.
        gate: Option<String>,
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Print `export` lines (PGHOST, PGPASSWORD, …) for a gate, for other tools.
    Env {
        #[command(flatten)]
        client: ClientArgs,
        gate: Option<String>,
    },
}

/// Which profile, and what to override in it.
#[derive(Args, Debug, Clone, Default)]
pub struct ClientArgs {
    /// A profile of the client configuration ($XDG_CONFIG_HOME/ward/config.toml).
    #[arg(long, env = "WARD_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    /// The issuer to sign in at (default: the profile's, or http://localhost:8080).
    #[arg(long = "issuer", value_name = "URL")]
    pub issuer: Option<String>,
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// An `audience` parameter, for issuers that need one.
    #[arg(long, value_name = "AUD")]
    pub audience: Option<String>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct LoginArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Use a device code instead of the browser (also chosen when no browser can be opened).
    #[arg(long)]
    pub device: bool,
    /// The loopback port for the browser's return, for issuers that need an exact redirect URI.
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Registered clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// People who sign in.
    #[command(subcommand)]
    User(UserCommand),
    /// Declared scopes.
    #[command(subcommand)]
    Scope(ScopeCommand),
    /// Signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// TLS certificates for gates.
    #[command(subcommand)]
    Tls(TlsCommand),
    /// The `ward` schema that PostgreSQL policies call to read the signed identity.
    #[command(subcommand)]
    Pg(PgCommand),
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user. The password is asked for on the terminal, or read from standard input
    /// with --password-stdin; never from the command line.
    Create(Box<CreateUser>),
    List(Output),
    Show {
        username: String,
        #[command(flatten)]
        output: Output,
    },
    /// Stop a user from signing in.
    Disable {
        username: String,
        #[command(flatten)]
        output: Output,
    },
    Enable {
        username: String,
        #[command(flatten)]
        output: Output,
    },
    Delete {
        username: String,
    },
    /// Set a new password (asked for, or --password-stdin).
    SetPassword {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    AddRole {
        username: String,
        role: String,
        #[command(flatten)]
        output: Output,
    },
    RemoveRole {
        username: String,
        role: String,
        #[command(flatten)]
        output: Output,
    },
    /// Every grant of the user: the apps and devices they let in.
    Sessions {
        username: String,
        #[command(flatten)]
        output: Output,
    },
    /// Revoke one grant of the user (--grant ID), or all of them (--all).
    Revoke {
        username: String,
        #[arg(long, value_name = "ID", conflicts_with = "all", required_unless_present = "all")]
        grant: Option<String>,
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Args, Debug)]
pub struct CreateUser {
    pub username: String,
    #[arg(long)]
    pub email: Option<String>,
    /// Display name.
    #[arg(long)]
    pub name: Option<String>,
    /// A role (repeatable): what gates' `roles` rules match.
    #[arg(long = "role", value_name = "ROLE")]
    pub roles: Vec<String>,
    /// A group (repeatable).
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,
    #[arg(long)]
    pub tenant: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub output: Output,
}

#[derive(Subcommand, Debug)]
pub enum PgCommand {
    /// Print the SQL of the `ward` schema (key table and functions), without keys.
    IdentitySql,
    /// Apply the `ward` schema to the database named by --database, and make its keys exactly
    /// the `signed_identity` keys of the configured gates. Run it as the database owner.
    Install,
}

#[derive(Subcommand, Debug)]
pub enum TlsCommand {
    /// Write a self-signed certificate and its key (PEM), for development.
    SelfSigned {
        #[arg(long, value_name = "FILE")]
        cert: PathBuf,
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Names and addresses the certificate is valid for (repeatable).
        #[arg(long = "host", value_name = "NAME", default_values_t = ["localhost".to_owned(), "127.0.0.1".to_owned()])]
        hosts: Vec<String>,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Args, Debug, Clone, Copy)]
pub struct Output {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Register a client. A generated secret is printed once.
    Create(Box<CreateClient>),
    List(Output),
    Show {
        client_id: String,
        #[command(flatten)]
        output: Output,
    },
    Delete {
        client_id: String,
        #[command(flatten)]
        output: Output,
    },
    /// Replace a client's secret; the old one stops working.
    RotateSecret {
        client_id: String,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Args, Debug)]
pub struct CreateClient {
    /// Display name.
    #[arg(long)]
    pub name: String,
    /// Client id; generated when omitted.
    #[arg(long = "id")]
    pub client_id: Option<String>,
    #[arg(long = "type", value_enum, default_value_t = ClientTypeArg::Confidential)]
    pub client_type: ClientTypeArg,
    /// Allowed grant type (repeatable); defaults to every grant the type may use.
    #[arg(long = "grant-type", value_name = "GRANT")]
    pub grant_types: Vec<String>,
    /// Allowed redirect URI (repeatable).
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    /// Allowed scope (repeatable, or space-separated).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// client_secret_basic (default for confidential), client_secret_post, private_key_jwt, none (public).
    #[arg(long)]
    pub auth_method: Option<String>,
    /// File holding the client's public JWK set, for private_key_jwt.
    #[arg(long, value_name = "FILE")]
    pub jwks: Option<PathBuf>,
    /// URL of the client's JWK set, for private_key_jwt.
    #[arg(long, value_name = "URL")]
    pub jwks_uri: Option<String>,
    /// Do not ask users for consent.
    #[arg(long)]
    pub skip_consent: bool,
    /// A role its client-credentials tokens carry (repeatable): what gates' `roles` rules match.
    #[arg(long = "role", value_name = "ROLE")]
    pub roles: Vec<String>,
    /// The tenant its client-credentials tokens carry.
    #[arg(long)]
    pub tenant: Option<String>,
    /// A resource server (a gate, an API) that may introspect tokens issued to other clients.
    /// Without it, a client introspecting another client's token learns only `active: false`.
    #[arg(long)]
    pub introspect: bool,
    /// Where RP-initiated logout may return the browser to (repeatable).
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    pub post_logout_redirect_uris: Vec<String>,
    /// Let a confidential client leave PKCE out (public clients always need it).
    #[arg(long)]
    pub pkce_optional: bool,
    /// Accept authorization requests only through PAR (POST /oauth/par).
    #[arg(long)]
    pub require_par: bool,
    /// Keep one refresh token for the grant's life instead of rotating it at every refresh.
    #[arg(long)]
    pub fixed_refresh_tokens: bool,
    #[command(flatten)]
    pub output: Output,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum ClientTypeArg {
    Confidential,
    Public,
}

#[derive(Subcommand, Debug)]
pub enum ScopeCommand {
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        output: Output,
    },
    List(Output),
    Delete {
        name: String,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Stage a new signing key: published from one key reload interval on, signing from
    /// tokens.key_publish_ahead on; the old one stays in the JWKS until its tokens expire.
    Rotate {
        /// Algorithm of the new key; defaults to tokens.signing_alg.
        #[arg(long, value_name = "ES256|EdDSA|RS256")]
        alg: Option<String>,
        /// Sign with the new key at once (a leaked key, say). Resource servers that cached the
        /// JWKS refuse the new tokens until they fetch it again (up to its max-age), and other
        /// nodes keep signing with the old key until their next reload.
        #[arg(long)]
        now: bool,
        #[command(flatten)]
        output: Output,
    },
    List(Output),
}
