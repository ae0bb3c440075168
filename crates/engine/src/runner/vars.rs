//! The variables of one running execution: a [`VarStore`] over the plain variable
//! set that computes `$sys.datetime` on read and remembers what each step changed.

use std::borrow::Cow;

use flowhook_core::vars::{Lookup, Namespace, VarName, VarStore, Variables};

/// An execution's variables.
#[derive(Debug, Clone)]
pub struct ExecVars {
    values: Variables,
    timezone: chrono_tz::Tz,
    /// Variables changed since the last [`ExecVars::take_changes`], in order.
    changed: Vec<VarName>,
}

impl ExecVars {
    pub fn new(values: Variables, timezone: chrono_tz::Tz) -> ExecVars {
        ExecVars {
            values,
            timezone,
            changed: Vec::new(),
        }
    }

    pub fn values(&self) -> &Variables {
        &self.values
    }

    pub fn into_values(self) -> Variables {
        self.values
    }

    /// Replaces a value without recording a change (for reloads from storage).
    pub fn load(&mut self, var: VarName, value: String) {
        self.values.insert(var, value);
    }

    /// What changed since the last call, with the new values.
    pub fn take_changes(&mut self) -> Vec<(VarName, String)> {
        std::mem::take(&mut self.changed)
            .into_iter()
            .map(|v| {
                let value = self.values.get(&v).cloned().unwrap_or_default();
                (v, value)
            })
            .collect()
    }

    /// Every variable of one namespace.
    pub fn in_namespace(&self, ns: Namespace) -> impl Iterator<Item = (&VarName, &String)> {
        self.values.iter().filter(move |(k, _)| k.namespace() == ns)
    }
}

impl Lookup for ExecVars {
    fn get(&self, var: &VarName) -> Option<Cow<'_, str>> {
        if var.namespace() == Namespace::Sys {
            // `datetime` is the only `$sys` name validation lets through.
            let now = chrono::Utc::now().with_timezone(&self.timezone);
            return Some(Cow::Owned(
                now.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
            ));
        }
        self.values.get(var).map(|v| Cow::Borrowed(v.as_str()))
    }
}

impl VarStore for ExecVars {
    fn set(&mut self, var: &VarName, value: String) -> bool {
        if self.values.get(var) == Some(&value) {
            return false;
        }
        self.values.insert(var.clone(), value);
        if !self.changed.contains(var) {
            self.changed.push(var.clone());
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(s: &str) -> VarName {
        VarName::parse(s).expect("var")
    }

    #[test]
    fn sys_datetime_is_now_in_the_flow_zone() {
        let vars = ExecVars::new(Variables::new(), chrono_tz::Asia::Kolkata);
        let now = vars.get(&var("$sys.datetime")).expect("always set");
        assert!(now.ends_with("+05:30"), "{now}");
        assert!(chrono::DateTime::parse_from_rfc3339(&now).is_ok());
    }

    #[test]
    fn changes_are_recorded_once_and_only_when_values_differ() {
        let mut vars = ExecVars::new(Variables::new(), chrono_tz::UTC);
        assert!(vars.set(&var("$flow.key.a"), "1".into()));
        assert!(!vars.set(&var("$flow.key.a"), "1".into()));
        assert!(vars.set(&var("$flow.key.a"), "2".into()));
        assert_eq!(
            vars.take_changes(),
            vec![(var("$flow.key.a"), "2".to_owned())]
        );
        assert!(vars.take_changes().is_empty());
    }
}
