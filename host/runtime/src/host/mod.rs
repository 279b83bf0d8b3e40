//! One module per WIT interface, each implemented on a narrow view of the run's state.

pub(crate) mod bounds;
pub(crate) mod fs;
pub(crate) mod http;
pub(crate) mod poll;
pub(crate) mod records;

use crate::bindings::cordon::agent::types;

impl types::Host for crate::state::RunState {}
