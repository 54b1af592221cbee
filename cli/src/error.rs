//! The one error type of the command: a message for the user and an exit code.

use std::fmt;

/// A failure reported to the user as one line (`error: ...`) with a non-zero exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// What went wrong, in words for the user.
    pub message: String,
    /// The process exit code (never 0).
    pub code: u8,
}

impl CliError {
    /// Exit code for a bad argument or address.
    pub const USAGE: u8 = 2;
    /// Exit code for a failure of the network, the relay or the meeting.
    pub const FAILED: u8 = 1;
    /// Exit code when the meeting ended this participant (removed, refused, timed out).
    pub const ENDED: u8 = 3;

    /// A runtime failure (exit code 1).
    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: Self::FAILED,
        }
    }

    /// A usage error (exit code 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: Self::USAGE,
        }
    }

    /// The meeting ended for this participant (exit code 3).
    pub fn ended(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: Self::ENDED,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}
