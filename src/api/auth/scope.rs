//! The one project rule: which objects a request may see. Every lookup of
//! an object by id and every list asks [`sees`] with the object's project;
//! an object it may not see is answered exactly as if it did not exist.
//!
//! The scope travels with the store work of one request: [`with`] sets it on
//! the thread that runs the request's store closure (the blocking pool or
//! the writer thread) for exactly that closure. Store work run with no scope
//! set sees nothing, so a handler that forgets its scope fails closed.

use std::cell::RefCell;

/// What one request may see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every project: `[auth] mode = "none"`, or an admin.
    All,
    /// The objects of this project only.
    Project(String),
    /// Nothing: store work that no request scoped.
    Nothing,
}

impl Scope {
    /// Whether an object of `project` (None: an object without one) is
    /// visible in this scope.
    pub fn sees(&self, project: Option<&str>) -> bool {
        match self {
            Scope::All => true,
            Scope::Project(p) => project == Some(p.as_str()),
            Scope::Nothing => false,
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Scope>> = const { RefCell::new(None) };
}

/// Restores the previous scope when dropped, also on a panic.
struct Restore(Option<Scope>);

impl Drop for Restore {
    fn drop(&mut self) {
        let previous = self.0.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// Run `f` with `scope` as this thread's scope.
pub fn with<T>(scope: Scope, f: impl FnOnce() -> T) -> T {
    let previous = CURRENT.with(|c| c.borrow_mut().replace(scope));
    let _restore = Restore(previous);
    f()
}

/// Whether the current request may see an object of `project`.
pub fn sees(project: Option<&str>) -> bool {
    CURRENT.with(|c| c.borrow().as_ref().is_some_and(|s| s.sees(project)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_scope_sees_only_its_project_and_no_scope_sees_nothing() {
        assert!(!sees(Some("a")), "no scope set");
        with(Scope::Project("a".into()), || {
            assert!(sees(Some("a")));
            assert!(!sees(Some("b")));
            assert!(!sees(None));
            with(Scope::All, || assert!(sees(Some("b")) && sees(None)));
            assert!(!sees(Some("b")), "the inner scope is restored");
        });
        assert!(!sees(Some("a")));
        let r = std::panic::catch_unwind(|| with(Scope::All, || panic!("boom")));
        assert!(r.is_err());
        assert!(!sees(Some("a")), "a panic restores the scope too");
    }
}
