//! Token roles to a backend service account: ordered rules, first match wins.

use ward_config::gate::RoleRule;

/// The account for a token carrying `roles`, or `None` when no rule matches.
pub fn account_for<'a>(rules: &'a [RoleRule], roles: &[String]) -> Option<&'a str> {
    rules.iter().find(|r| r.role == "*" || roles.contains(&r.role)).map(|r| r.account.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(role: &str, account: &str) -> RoleRule {
        RoleRule { role: role.into(), account: account.into() }
    }

    #[test]
    fn first_matching_rule_wins() {
        let rules = [rule("admin", "svc_admin"), rule("writer", "svc_writer"), rule("reader", "svc_reader")];
        let roles = |r: &[&str]| r.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(account_for(&rules, &roles(&["reader", "writer"])), Some("svc_writer"));
        assert_eq!(account_for(&rules, &roles(&["reader"])), Some("svc_reader"));
        assert_eq!(account_for(&rules, &roles(&["guest"])), None);
        assert_eq!(account_for(&rules, &[]), None);
        let with_default = [rule("admin", "svc_admin"), rule("*", "svc_reader")];
        assert_eq!(account_for(&with_default, &roles(&["guest"])), Some("svc_reader"));
    }
}
