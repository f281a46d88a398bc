//! The shell's one handle on the model: the [`Port`] the app gives it, and the [`Model`]
//! handle the socket, the call queue and the call engine hold.
//!
//! Why a file of its own: every part of the shell reports to the model and reads it, and
//! the shell's entry (`client/mod.rs`) starts those parts. Kept here, below all of them,
//! the parts depend on this file and `mod.rs` on the parts, never back.

use std::cell::RefCell;
use std::rc::Rc;

use crate::model::{ClientState, Input};

/// What the app gives the shell: a way to feed the model an input (`Session::dispatch`)
/// and to read its state.
#[derive(Clone)]
pub struct Port {
    pub dispatch: Rc<dyn Fn(Input)>,
    pub read: Rc<dyn Fn(&mut dyn FnMut(&ClientState))>,
}

thread_local! {
    static PORT: RefCell<Option<Port>> = const { RefCell::new(None) };
}

/// Keep the app's port (once, when the client starts).
pub fn install(port: Port) {
    PORT.with(|p| *p.borrow_mut() = Some(port));
}

/// Feed `input` to the model (once started).
pub fn dispatch(input: Input) {
    let to = PORT.with(|p| p.borrow().as_ref().map(|p| p.dispatch.clone()));
    if let Some(to) = to {
        to(input);
    }
}

/// The call engine's handle on the model: report what happened, read a fact.
#[derive(Clone, Copy)]
pub struct Model;

impl Model {
    pub fn dispatch(self, input: Input) {
        dispatch(input);
    }

    /// `f` of the state (the default before the client started).
    pub fn read<T: Default>(self, f: impl FnOnce(&ClientState) -> T) -> T {
        let Some(read) = PORT.with(|p| p.borrow().as_ref().map(|p| p.read.clone())) else { return T::default() };
        let (mut f, mut out) = (Some(f), None);
        read(&mut |s| out = f.take().map(|f| f(s)));
        out.unwrap_or_default()
    }
}
