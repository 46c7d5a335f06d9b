//! Token roles to a backend account: ordered rules, first match wins. Generic over the
//! account, so each gate names its own (a PostgreSQL role, a Redis ACL user).

use ward_config::gate::RoleRule;

/// The role that matches every token.
pub const ANY_ROLE: &str = "*";

/// The account for a token carrying `roles`, or `None` when no rule matches.
pub fn account_for<'a, A>(rules: &'a [RoleRule<A>], roles: &[String]) -> Option<&'a A> {
    rules.iter().find(|r| r.role == ANY_ROLE || roles.contains(&r.role)).map(|r| &r.account)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule<A>(role: &str, account: A) -> RoleRule<A> {
        RoleRule { role: role.into(), account }
    }

    fn roles(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn first_matching_rule_wins() {
        let rules = [rule("admin", "svc_admin"), rule("writer", "svc_writer"), rule("reader", "svc_reader")];
        assert_eq!(account_for(&rules, &roles(&["reader", "writer"])), Some(&"svc_writer"));
        assert_eq!(account_for(&rules, &roles(&["reader"])), Some(&"svc_reader"));
        assert_eq!(account_for(&rules, &roles(&["guest"])), None);
        assert_eq!(account_for(&rules, &[]), None);
        let with_default = [rule("admin", "svc_admin"), rule("*", "svc_reader")];
        assert_eq!(account_for(&with_default, &roles(&["guest"])), Some(&"svc_reader"));
    }

    #[test]
    fn a_role_must_match_whole_and_any_account_type_works() {
        #[derive(Debug, PartialEq)]
        struct Account(u8);
        let rules = [rule("read", Account(1)), rule("*", Account(2))];
        assert_eq!(account_for(&rules, &roles(&["reader"])), Some(&Account(2)), "no prefix match");
        assert_eq!(account_for(&rules, &roles(&["read"])), Some(&Account(1)));
        let none: [RoleRule<Account>; 0] = [];
        assert_eq!(account_for(&none, &roles(&["read"])), None);
    }
}
