//! placeholder
use crate::ConclaveError;
use crate::session::CallbackError;
pub(crate) fn rejected(_p: &str, _e: &ConclaveError) {}
pub(crate) fn callback_failed(_p: &str, _e: &CallbackError) {}
