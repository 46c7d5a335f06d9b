//! Token roles to a backend service account: ordered rules, first match wins.

use ward_config::gate::RoleRule;

/// The account for a token carrying `roles`, or `None` when no rule matches.
pub fn account_for<'a>(rules: &'a [RoleRule], roles: &[String]) -> Option<&'a str> {
    rules.iter().find(|r| r.role == "*" || roles.iter().any(|role| *role == r.role)).map(|r| r.account.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(role: &str, account: &str) -> RoleRule {
        RoleRule { role: role.into(), account: account.into() }
    }

    #[test]
    fn first_matching_rule_wins() {
        let rules = [rule("admin", "pg_admin"), rule("writer", "pg_writer"), rule("reader", "pg_reader")];
        let roles = |r: &[&str]| r.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(account_for(&rules, &roles(&["reader", "writer"])), Some("pg_writer"));
        assert_eq!(account_for(&rules, &roles(&["reader"])), Some("pg_reader"));
        assert_eq!(account_for(&rules, &roles(&["guest"])), None);
        assert_eq!(account_for(&rules, &[]), None);
        let with_default = [rule("admin", "pg_admin"), rule("*", "pg_reader")];
        assert_eq!(account_for(&with_default, &roles(&["guest"])), Some("pg_reader"));
    }
}
