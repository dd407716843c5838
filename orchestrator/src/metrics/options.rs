//! Typed reads of a metric's or filter's raw options, with errors that name the option, the bound
//! and the value. Each read records the option as known; `finish` rejects any option left over.

use super::MetricError;
use regex::Regex;
use serde_json::Value;
use std::collections::BTreeMap;

pub(crate) struct Options<'a> {
    owner: &'a str,
    map: &'a BTreeMap<String, Value>,
    known: Vec<&'static str>,
}

impl<'a> Options<'a> {
    pub(crate) fn new(owner: &'a str, map: &'a BTreeMap<String, Value>) -> Self {
        Options {
            owner,
            map,
            known: Vec::new(),
        }
    }

    fn get(&mut self, name: &'static str) -> Option<&'a Value> {
        self.known.push(name);
        self.map.get(name).filter(|v| !v.is_null())
    }

    fn bad(&self, option: &str, expected: &'static str, value: &Value) -> MetricError {
        MetricError::BadOption {
            owner: self.owner.to_string(),
            option: option.to_string(),
            expected,
            value: value.to_string(),
        }
    }

    pub(crate) fn bool(&mut self, name: &'static str, default: bool) -> Result<bool, MetricError> {
        match self.get(name) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(self.bad(name, "true or false", v)),
        }
    }

    /// A finite number >= 0.
    pub(crate) fn non_negative(&mut self, name: &'static str) -> Result<Option<f64>, MetricError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => match v.as_f64() {
                Some(x) if x.is_finite() && x >= 0.0 => Ok(Some(x)),
                _ => Err(self.bad(name, "a number >= 0", v)),
            },
        }
    }

    pub(crate) fn int(&mut self, name: &'static str) -> Result<Option<i64>, MetricError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.bad(name, "an integer", v)),
        }
    }

    pub(crate) fn string(&mut self, name: &'static str) -> Result<Option<String>, MetricError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.bad(name, "a string", v)),
        }
    }

    pub(crate) fn string_list(
        &mut self,
        name: &'static str,
    ) -> Result<Option<Vec<String>>, MetricError> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let expected = "a non-empty list of non-empty strings";
        let Value::Array(items) = v else {
            return Err(self.bad(name, expected, v));
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Value::String(s) if !s.is_empty() => out.push(s.clone()),
                _ => return Err(self.bad(name, expected, v)),
            }
        }
        if out.is_empty() {
            return Err(self.bad(name, expected, v));
        }
        Ok(Some(out))
    }

    /// A list of integers >= 1 (a single integer is accepted as a one-element list).
    pub(crate) fn positive_int_list(
        &mut self,
        name: &'static str,
    ) -> Result<Option<Vec<u32>>, MetricError> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let expected = "an integer >= 1 or a non-empty list of them";
        let items: Vec<&Value> = match v {
            Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match item.as_u64() {
                Some(k) if k >= 1 && k <= u64::from(u32::MAX) => out.push(k as u32),
                _ => return Err(self.bad(name, expected, v)),
            }
        }
        if out.is_empty() {
            return Err(self.bad(name, expected, v));
        }
        Ok(Some(out))
    }

    pub(crate) fn regex(&mut self, name: &'static str) -> Result<Option<Regex>, MetricError> {
        match self.string(name)? {
            None => Ok(None),
            Some(pattern) => compile(self.owner, name, &pattern).map(Some),
        }
    }

    pub(crate) fn regex_list(&mut self, name: &'static str) -> Result<Vec<Regex>, MetricError> {
        let Some(v) = self.get(name) else {
            return Ok(Vec::new());
        };
        let Value::Array(items) = v else {
            return Err(self.bad(name, "a list of patterns", v));
        };
        items
            .iter()
            .map(|item| match item {
                Value::String(p) => compile(self.owner, name, p),
                _ => Err(self.bad(name, "a list of patterns", v)),
            })
            .collect()
    }

    /// Reject options nobody asked for (typos would otherwise be ignored silently).
    pub(crate) fn finish(self) -> Result<(), MetricError> {
        for key in self.map.keys() {
            if !self.known.contains(&key.as_str()) {
                let known = if self.known.is_empty() {
                    "none".to_string()
                } else {
                    self.known.join(", ")
                };
                return Err(MetricError::UnknownOption {
                    owner: self.owner.to_string(),
                    option: key.clone(),
                    known,
                });
            }
        }
        Ok(())
    }
}

fn compile(owner: &str, option: &str, pattern: &str) -> Result<Regex, MetricError> {
    Regex::new(pattern).map_err(|e| MetricError::BadRegex {
        owner: owner.to_string(),
        option: option.to_string(),
        pattern: pattern.to_string(),
        message: e
            .to_string()
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_string(),
    })
}
