//! placeholder
pub(crate) fn _placeholder() {}
