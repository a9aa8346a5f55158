//! [`Error`]: one enum over coio's statuses.
use coio_sys as sys;
use std::ffi::CStr;
use std::fmt;

/// What can go wrong: coio's statuses as one enum.
///
/// A failed future gives [`Error::Failed`] with its code and message, except for the codes
/// that have a variant of their own (a queue's [`Error::Shutdown`], a barrier's
/// [`Error::Broken`], a timeout's [`Error::TimedOut`], ...).  A cancelled one gives
/// [`Error::Cancelled`] with the cancel message, if there was one.  A task whose body panicked
/// fails with code `COIO_EFAILED` and a message starting with `"panicked: "`.
///
/// ```
/// use coio::Error;
/// let e = Error::Cancelled(Some("bye".into()));
/// assert_eq!(e.to_string(), "cancelled: bye");
/// assert_eq!(e.status(), coio_sys::Status::Cancelled);
/// assert!(e.is_cancelled());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// `COIO_EINVAL`: an invalid argument.
    Invalid,
    /// `COIO_ENOMEM`: out of memory.
    NoMemory,
    /// `COIO_ESTATE`: wrong state (the result of a pending future, a result already taken, ...).
    State,
    /// `COIO_ECANCELLED`, with the cancel message.
    Cancelled(Option<String>),
    /// A failure: `code` is `COIO_EFAILED` or the code the future was failed with.
    Failed {
        /// The error code.
        code: i32,
        /// The error message, if any.
        message: Option<String>,
    },
    /// `COIO_ETIMEDOUT`: a timeout expired.
    TimedOut,
    /// `COIO_ECLOSED`: the loop is closed.
    Closed,
    /// `COIO_EBUSY`: the loop is running (or another busy condition).
    Busy,
    /// `COIO_ELOOP`: the object belongs to another loop.
    WrongLoop,
    /// `COIO_ETHREAD`: called from a thread that does not drive the loop.
    Thread,
    /// `COIO_ENOTSUP`: not supported here.
    NotSupported,
    /// `COIO_ESYS`: a system call failed, with its errno (0 if unknown).
    Sys(i32),
    /// `COIO_EFULL`: a `_nowait` put on a full queue.
    Full,
    /// `COIO_EEMPTY`: a `_nowait` get on an empty queue.
    Empty,
    /// `COIO_ESHUTDOWN`: the queue was shut down.
    Shutdown,
    /// `COIO_EBROKEN`: the barrier is broken.
    Broken,
}

/// `Result<T, coio::Error>`.
///
/// ```
/// let r: coio::Result<u8> = Err(coio::Error::Closed);
/// assert!(r.is_err());
/// ```
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The error for a status returned by a coio call (`None` for `COIO_OK` and positive
    /// values).
    ///
    /// ```
    /// assert_eq!(coio::Error::from_status(-7), Some(coio::Error::Closed));
    /// assert_eq!(coio::Error::from_status(0), None);
    /// ```
    pub fn from_status(st: i32) -> Option<Error> {
        if st >= 0 {
            return None;
        }
        Some(match sys::Status::from_raw(st) {
            Some(s) => Error::from_code(s as i32, None),
            None => Error::Failed {
                code: st,
                message: None,
            },
        })
    }

    /// The error for a failure `code` with an optional message (as a failed future has).
    ///
    /// ```
    /// use coio::Error;
    /// assert_eq!(Error::from_code(-16, None), Error::Broken);
    /// assert_eq!(
    ///     Error::from_code(42, Some("x".into())),
    ///     Error::Failed { code: 42, message: Some("x".into()) }
    /// );
    /// ```
    pub fn from_code(code: i32, message: Option<String>) -> Error {
        use sys::Status as S;
        match sys::Status::from_raw(code) {
            Some(S::Invalid) => Error::Invalid,
            Some(S::NoMemory) => Error::NoMemory,
            Some(S::State) => Error::State,
            Some(S::Cancelled) => Error::Cancelled(message),
            Some(S::TimedOut) => Error::TimedOut,
            Some(S::Closed) => Error::Closed,
            Some(S::Busy) => Error::Busy,
            Some(S::WrongLoop) => Error::WrongLoop,
            Some(S::Thread) => Error::Thread,
            Some(S::NotSupported) => Error::NotSupported,
            Some(S::Sys) => Error::Sys(0),
            Some(S::Full) => Error::Full,
            Some(S::Empty) => Error::Empty,
            Some(S::Shutdown) => Error::Shutdown,
            Some(S::Broken) => Error::Broken,
            _ => Error::Failed { code, message },
        }
    }

    /// The status this error stands for.
    ///
    /// ```
    /// assert_eq!(coio::Error::TimedOut.status(), coio_sys::Status::TimedOut);
    /// ```
    pub fn status(&self) -> sys::Status {
        use sys::Status as S;
        match self {
            Error::Invalid => S::Invalid,
            Error::NoMemory => S::NoMemory,
            Error::State => S::State,
            Error::Cancelled(_) => S::Cancelled,
            Error::Failed { .. } => S::Failed,
            Error::TimedOut => S::TimedOut,
            Error::Closed => S::Closed,
            Error::Busy => S::Busy,
            Error::WrongLoop => S::WrongLoop,
            Error::Thread => S::Thread,
            Error::NotSupported => S::NotSupported,
            Error::Sys(_) => S::Sys,
            Error::Full => S::Full,
            Error::Empty => S::Empty,
            Error::Shutdown => S::Shutdown,
            Error::Broken => S::Broken,
        }
    }

    /// The code to fail a coio future with (the `code` of [`Error::Failed`], else the status).
    ///
    /// ```
    /// assert_eq!(coio::Error::Shutdown.code(), -15);
    /// ```
    pub fn code(&self) -> i32 {
        match self {
            Error::Failed { code, .. } => *code,
            e => e.status() as i32,
        }
    }

    /// The message carried (the cancel message, a failure's message).
    ///
    /// ```
    /// assert_eq!(coio::Error::Cancelled(Some("m".into())).message(), Some("m"));
    /// assert_eq!(coio::Error::Closed.message(), None);
    /// ```
    pub fn message(&self) -> Option<&str> {
        match self {
            Error::Cancelled(m) | Error::Failed { message: m, .. } => m.as_deref(),
            _ => None,
        }
    }

    /// Whether this is [`Error::Cancelled`].
    ///
    /// ```
    /// assert!(!coio::Error::Closed.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Error::Cancelled(_))
    }
}

#[inline]
pub(crate) fn check(st: i32) -> Result<()> {
    if st >= 0 {
        Ok(())
    } else {
        Err(status_error(st))
    }
}

#[cold]
#[inline(never)]
fn status_error(st: i32) -> Error {
    Error::from_status(st).unwrap_or(Error::Invalid)
}

pub(crate) unsafe fn opt_string(p: *const std::os::raw::c_char) -> Option<String> {
    if p.is_null() {
        None
    } else {
        Some(CStr::from_ptr(p).to_string_lossy().into_owned())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Cancelled(None) => f.write_str("cancelled"),
            Error::Cancelled(Some(m)) => write!(f, "cancelled: {m}"),
            Error::Failed { code, message } => {
                match message {
                    Some(m) => f.write_str(m)?,
                    None => f.write_str("failed")?,
                }
                if *code != sys::COIO_EFAILED {
                    match sys::Status::from_raw(*code) {
                        Some(s) => write!(f, " ({})", s.name())?,
                        None => write!(f, " (code {code})")?,
                    }
                }
                Ok(())
            }
            Error::Sys(errno) if *errno != 0 => {
                write!(f, "{}", std::io::Error::from_raw_os_error(*errno))
            }
            e => f.write_str(e.status().description()),
        }
    }
}

impl std::error::Error for Error {}
