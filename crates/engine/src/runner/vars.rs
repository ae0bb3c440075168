//! The variables of one running execution: a [`VarStore`] over the plain variable
//! set that computes `$sys.datetime` on read and remembers what each step changed.
//!
//! It also keeps the execution's variable budget (`flowhook_core::budget`): a
//! value longer than [`MAX_VARIABLE_BYTES`], or one that would bring all values
//! together over [`MAX_EXECUTION_VARIABLE_BYTES`], is not stored; the first such
//! refusal is kept for the runner, which ends the execution with it.

use std::borrow::Cow;

use flowhook_core::budget::{Exceeded, MAX_EXECUTION_VARIABLE_BYTES, MAX_VARIABLE_BYTES};
use flowhook_core::vars::{Lookup, Namespace, VarName, VarStore, Variables};

/// An execution's variables.
#[derive(Debug, Clone)]
pub struct ExecVars {
    values: Variables,
    timezone: chrono_tz::Tz,
    /// Variables changed since the last [`ExecVars::take_changes`], in order.
    changed: Vec<VarName>,
    /// Bytes of all values together.
    total_bytes: usize,
    /// The first budget limit a [`VarStore::set`] went over, until taken.
    exceeded: Option<Exceeded>,
}

impl ExecVars {
    pub fn new(values: Variables, timezone: chrono_tz::Tz) -> ExecVars {
        ExecVars {
            total_bytes: values.values().map(String::len).sum(),
            values,
            timezone,
            changed: Vec::new(),
            exceeded: None,
        }
    }

    /// The budget limit a write went over since the last call, if any. The
    /// write was refused, so the execution cannot go on as the flow says.
    pub fn take_exceeded(&mut self) -> Option<Exceeded> {
        self.exceeded.take()
    }

    /// Bytes of all values together, as the budget counts them.
    pub fn total_bytes(&self) -> usize {
        self.total_bytes
    }

    /// Stores `value`, keeping the byte count.
    fn put(&mut self, var: VarName, value: String) {
        let old = self.values.get(&var).map_or(0, String::len);
        self.total_bytes = self.total_bytes - old + value.len();
        self.values.insert(var, value);
    }

    pub fn values(&self) -> &Variables {
        &self.values
    }

    pub fn into_values(self) -> Variables {
        self.values
    }

    /// Replaces a value without recording a change (for reloads from storage).
    /// Counted in the total, not checked: the value was stored under the budget.
    pub fn load(&mut self, var: VarName, value: String) {
        self.put(var, value);
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
        let old = match self.values.get(var) {
            Some(old) if *old == value => return false,
            old => old.map_or(0, String::len),
        };
        let total = self.total_bytes - old + value.len();
        let refused = if value.len() > MAX_VARIABLE_BYTES {
            Some(Exceeded::VariableValue {
                var: var.to_string(),
                len: value.len(),
            })
        } else if total > MAX_EXECUTION_VARIABLE_BYTES {
            Some(Exceeded::ExecutionVariables {
                var: var.to_string(),
                total,
            })
        } else {
            None
        };
        if let Some(refused) = refused {
            self.exceeded.get_or_insert(refused);
            return false;
        }
        self.put(var.clone(), value);
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

    #[test]
    fn a_value_over_the_variable_limit_is_refused_and_reported() {
        let mut vars = ExecVars::new(Variables::new(), chrono_tz::UTC);
        assert!(vars.set(&var("$flow.key.a"), "x".repeat(MAX_VARIABLE_BYTES)));
        assert!(!vars.set(&var("$flow.key.b"), "x".repeat(MAX_VARIABLE_BYTES + 1)));
        assert_eq!(vars.values().get(&var("$flow.key.b")), None, "not stored");
        let exceeded = vars
            .take_exceeded()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            exceeded.contains("$flow.key.b") && exceeded.contains("variable value limit"),
            "{exceeded}"
        );
        assert_eq!(vars.take_exceeded(), None, "taken once");
    }

    #[test]
    fn all_values_together_are_capped() {
        let mut vars = ExecVars::new(Variables::new(), chrono_tz::UTC);
        let chunk = "x".repeat(MAX_EXECUTION_VARIABLE_BYTES / 8);
        for i in 0..8 {
            assert!(vars.set(&var(&format!("$flow.key.v{i}")), chunk.clone()));
        }
        assert_eq!(vars.total_bytes(), MAX_EXECUTION_VARIABLE_BYTES);
        // Replacing a value counts only the difference.
        assert!(vars.set(&var("$flow.key.v0"), "y".repeat(chunk.len())));
        assert!(vars.set(&var("$flow.key.v0"), String::new()));
        assert!(vars.set(&var("$flow.key.v0"), chunk.clone()));
        assert_eq!(vars.take_exceeded(), None);
        assert!(!vars.set(&var("$flow.key.one_more"), "z".into()));
        let exceeded = vars
            .take_exceeded()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(exceeded.contains("execution variables limit"), "{exceeded}");
        assert_eq!(vars.total_bytes(), MAX_EXECUTION_VARIABLE_BYTES);
    }
}
