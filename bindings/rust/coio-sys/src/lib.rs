//! Raw FFI bindings to libcoio, asyncio's core (event loop, callbacks, timers, futures,
//! tasks, combinators, primitives, queues) as a C library.
//!
//! `bindings.rs` is generated from `include/coio.h` and `include/coio_plugin.h` by bindgen ahead
//! of time and committed, so
//! building this crate needs no libclang; `regen-bindings.sh` regenerates it (and, with
//! `--check`, verifies that the committed file matches the header).  The library itself is
//! found with pkg-config (see `build.rs`).
//!
//! On top of the generated items this crate names the statuses and the flag sets as Rust
//! types: [`Status`], [`LoopFlags`], [`Backend`], [`TaskFlags`], [`SemaphoreFlags`],
//! [`GatherFlags`], [`QueueKind`] and [`ReturnWhen`].  Everything here is `unsafe` to use; the
//! `coio` crate is the safe binding.
//!
//! ```
//! let v = unsafe { std::ffi::CStr::from_ptr(coio_sys::coio_version()) };
//! assert!(v.to_str().unwrap().starts_with("1."));
//! ```
#![allow(non_camel_case_types, non_upper_case_globals, non_snake_case)]
#![allow(clippy::all)]

mod bindings;
pub use bindings::*;

use std::fmt;

/// A coio status: `COIO_OK` or one of the negative `COIO_E*` codes.
///
/// ```
/// use coio_sys::Status;
/// assert_eq!(Status::from_raw(-4), Some(Status::Cancelled));
/// assert_eq!(Status::Cancelled.raw(), coio_sys::COIO_ECANCELLED);
/// assert_eq!(Status::from_raw(7), None);
/// ```
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// `COIO_OK`
    Ok = 0,
    /// `COIO_EINVAL`: invalid argument.
    Invalid = -1,
    /// `COIO_ENOMEM`: out of memory.
    NoMemory = -2,
    /// `COIO_ESTATE`: wrong state.
    State = -3,
    /// `COIO_ECANCELLED`: the future was cancelled.
    Cancelled = -4,
    /// `COIO_EFAILED`: the future failed.
    Failed = -5,
    /// `COIO_ETIMEDOUT`: a timeout expired.
    TimedOut = -6,
    /// `COIO_ECLOSED`: the loop is closed.
    Closed = -7,
    /// `COIO_EBUSY`: the loop is running.
    Busy = -8,
    /// `COIO_ELOOP`: the object belongs to another loop.
    WrongLoop = -9,
    /// `COIO_ETHREAD`: called from a thread that does not drive the loop.
    Thread = -10,
    /// `COIO_ENOTSUP`: not supported here.
    NotSupported = -11,
    /// `COIO_ESYS`: a system call failed.
    Sys = -12,
    /// `COIO_EFULL`: the queue is full.
    Full = -13,
    /// `COIO_EEMPTY`: the queue is empty.
    Empty = -14,
    /// `COIO_ESHUTDOWN`: the queue was shut down.
    Shutdown = -15,
    /// `COIO_EBROKEN`: the barrier is broken.
    Broken = -16,
}

impl Status {
    /// Every status, in code order (0, -1, -2, ...).
    ///
    /// ```
    /// assert_eq!(coio_sys::Status::ALL[0], coio_sys::Status::Ok);
    /// ```
    pub const ALL: [Status; 17] = [
        Status::Ok,
        Status::Invalid,
        Status::NoMemory,
        Status::State,
        Status::Cancelled,
        Status::Failed,
        Status::TimedOut,
        Status::Closed,
        Status::Busy,
        Status::WrongLoop,
        Status::Thread,
        Status::NotSupported,
        Status::Sys,
        Status::Full,
        Status::Empty,
        Status::Shutdown,
        Status::Broken,
    ];

    /// The status with this code, or `None` for a code that is not a coio status.
    ///
    /// ```
    /// assert_eq!(coio_sys::Status::from_raw(0), Some(coio_sys::Status::Ok));
    /// ```
    pub fn from_raw(code: i32) -> Option<Status> {
        if (-16..=0).contains(&code) {
            Some(Status::ALL[(-code) as usize])
        } else {
            None
        }
    }

    /// The C value (`COIO_OK`, `COIO_EINVAL`, ...).
    ///
    /// ```
    /// assert_eq!(coio_sys::Status::Invalid.raw(), -1);
    /// ```
    pub fn raw(self) -> i32 {
        self as i32
    }

    /// The symbolic name, as `coio_status_name` gives it ("COIO_EINVAL").
    ///
    /// ```
    /// assert_eq!(coio_sys::Status::Invalid.name(), "COIO_EINVAL");
    /// ```
    pub fn name(self) -> &'static str {
        unsafe { cstr(coio_status_name(self as i32)) }
    }

    /// The description, as `coio_strerror` gives it ("invalid argument").
    ///
    /// ```
    /// assert_eq!(coio_sys::Status::Invalid.description(), "invalid argument");
    /// ```
    pub fn description(self) -> &'static str {
        unsafe { cstr(coio_strerror(self as i32)) }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

unsafe fn cstr(p: *const std::os::raw::c_char) -> &'static str {
    if p.is_null() {
        ""
    } else {
        std::ffi::CStr::from_ptr(p).to_str().unwrap_or("")
    }
}

macro_rules! flags {
    ($(#[$m:meta])* $name:ident : $t:ty { $($(#[$fm:meta])* $f:ident = $v:expr;)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        #[repr(transparent)]
        pub struct $name(pub $t);
        impl $name {
            /// No flag.
            #[doc = concat!("```\nassert_eq!(coio_sys::", stringify!($name), "::NONE.bits(), 0);\n```")]
            pub const NONE: $name = $name(0);
            $($(#[$fm])* pub const $f: $name = $name($v as $t);)*
            /// The C value.
            #[doc = concat!("```\nassert_eq!(coio_sys::", stringify!($name), "(5).bits(), 5);\n```")]
            pub fn bits(self) -> $t { self.0 }
            /// Whether every flag of `other` is set in `self`.
            #[doc = concat!("```\nlet f = coio_sys::", stringify!($name), "(3);\nassert!(f.contains(coio_sys::", stringify!($name), "(1)));\nassert!(!coio_sys::", stringify!($name), "::NONE.contains(f));\n```")]
            pub fn contains(self, other: $name) -> bool { self.0 & other.0 == other.0 }
        }
        impl std::ops::BitOr for $name {
            type Output = $name;
            fn bitor(self, o: $name) -> $name { $name(self.0 | o.0) }
        }
        impl std::ops::BitOrAssign for $name {
            fn bitor_assign(&mut self, o: $name) { self.0 |= o.0 }
        }
    };
}

flags! {
    /// `COIO_LOOP_*` flags of `coio_loop_options.flags`.
    ///
    /// ```
    /// use coio_sys::LoopFlags;
    /// let f = LoopFlags::DEBUG | LoopFlags::VIRTUAL_TIME;
    /// assert!(f.contains(LoopFlags::VIRTUAL_TIME));
    /// assert_eq!(f.bits(), 3);
    /// ```
    LoopFlags: u32 {
        /// `COIO_LOOP_DEBUG`: asyncio's debug mode.
        DEBUG = COIO_LOOP_DEBUG;
        /// `COIO_LOOP_VIRTUAL_TIME`: the clock starts at 0 and jumps to the next timer when idle.
        VIRTUAL_TIME = COIO_LOOP_VIRTUAL_TIME;
    }
}

flags! {
    /// `COIO_BACKEND_*` values (libev backends).
    ///
    /// ```
    /// assert_eq!(coio_sys::Backend::AUTO, coio_sys::Backend::NONE);
    /// ```
    Backend: u32 {
        /// `COIO_BACKEND_AUTO`: libev chooses.
        AUTO = COIO_BACKEND_AUTO;
        /// `COIO_BACKEND_SELECT`
        SELECT = COIO_BACKEND_SELECT;
        /// `COIO_BACKEND_POLL`
        POLL = COIO_BACKEND_POLL;
        /// `COIO_BACKEND_EPOLL`
        EPOLL = COIO_BACKEND_EPOLL;
        /// `COIO_BACKEND_KQUEUE`
        KQUEUE = COIO_BACKEND_KQUEUE;
        /// `COIO_BACKEND_PORT`
        PORT = COIO_BACKEND_PORT;
        /// `COIO_BACKEND_LINUXAIO`
        LINUXAIO = COIO_BACKEND_LINUXAIO;
        /// `COIO_BACKEND_IOURING`
        IOURING = COIO_BACKEND_IOURING;
    }
}

flags! {
    /// `COIO_TASK_*` flags of `coio_task_options.flags`.
    ///
    /// ```
    /// assert_eq!(coio_sys::TaskFlags::EAGER.bits(), 1);
    /// ```
    TaskFlags: u32 {
        /// `COIO_TASK_EAGER`: run the first step inside spawn/task_new if the loop runs.
        EAGER = COIO_TASK_EAGER;
    }
}

flags! {
    /// `COIO_SEMAPHORE_*` flags.
    ///
    /// ```
    /// assert_eq!(coio_sys::SemaphoreFlags::BOUNDED.bits(), 1);
    /// ```
    SemaphoreFlags: u32 {
        /// `COIO_SEMAPHORE_BOUNDED`: releasing above the initial value is an error.
        BOUNDED = COIO_SEMAPHORE_BOUNDED;
    }
}

flags! {
    /// Flags of `coio_gather`.
    ///
    /// ```
    /// assert_eq!(coio_sys::GatherFlags::RETURN_EXCEPTIONS.bits(), 1);
    /// ```
    GatherFlags: u32 {
        /// `COIO_RETURN_EXCEPTIONS`: children's errors do not end the gather.
        RETURN_EXCEPTIONS = COIO_RETURN_EXCEPTIONS;
    }
}

/// `coio_step_fn` results that are not statuses.
///
/// ```
/// assert_eq!(coio_sys::StepResult::Await as i32, coio_sys::COIO_STEP_AWAIT as i32);
/// ```
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StepResult {
    /// `COIO_STEP_YIELD`: run again on the next pass.
    Yield = COIO_STEP_YIELD as i32,
    /// `COIO_STEP_AWAIT`: wait for the future given to `coio_step_await`.
    Await = COIO_STEP_AWAIT as i32,
}

/// Kinds of `coio_queue_new`.
///
/// ```
/// assert_eq!(coio_sys::QueueKind::Lifo as i32, 1);
/// ```
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueueKind {
    /// `COIO_QUEUE_FIFO`
    Fifo = COIO_QUEUE_FIFO as i32,
    /// `COIO_QUEUE_LIFO`
    Lifo = COIO_QUEUE_LIFO as i32,
    /// `COIO_QUEUE_PRIORITY`: the smallest priority first.
    Priority = COIO_QUEUE_PRIORITY as i32,
}

/// `return_when` of `coio_wait`.
///
/// ```
/// assert_eq!(coio_sys::ReturnWhen::AllCompleted as i32, 3);
/// ```
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReturnWhen {
    /// `COIO_FIRST_COMPLETED`
    FirstCompleted = COIO_FIRST_COMPLETED as i32,
    /// `COIO_FIRST_EXCEPTION`
    FirstException = COIO_FIRST_EXCEPTION as i32,
    /// `COIO_ALL_COMPLETED`
    AllCompleted = COIO_ALL_COMPLETED as i32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{align_of, size_of};

    #[test]
    fn statuses_match_the_header() {
        let c = [
            COIO_OK,
            COIO_EINVAL,
            COIO_ENOMEM,
            COIO_ESTATE,
            COIO_ECANCELLED,
            COIO_EFAILED,
            COIO_ETIMEDOUT,
            COIO_ECLOSED,
            COIO_EBUSY,
            COIO_ELOOP,
            COIO_ETHREAD,
            COIO_ENOTSUP,
            COIO_ESYS,
            COIO_EFULL,
            COIO_EEMPTY,
            COIO_ESHUTDOWN,
            COIO_EBROKEN,
        ];
        for (s, v) in Status::ALL.iter().zip(c) {
            assert_eq!(s.raw(), v as i32);
            assert_eq!(Status::from_raw(v as i32), Some(*s));
            let name = unsafe { std::ffi::CStr::from_ptr(coio_status_name(v as i32)) };
            assert_eq!(s.name(), name.to_str().unwrap());
        }
        assert_eq!(Status::from_raw(-17), None);
        assert_eq!(Status::from_raw(1), None);
    }

    #[test]
    fn struct_layouts() {
        // The layouts tests/test_abi.c holds the C side to, field by field.
        use std::mem::offset_of;
        const P: usize = size_of::<*const u8>();
        const Z: usize = size_of::<usize>();
        assert_eq!(offset_of!(coio_loop_options, size), 0);
        assert_eq!(offset_of!(coio_loop_options, flags), 4);
        assert_eq!(offset_of!(coio_loop_options, backend), 8);
        assert_eq!(offset_of!(coio_loop_options, slow_callback_duration), 16);
        assert_eq!(offset_of!(coio_exception_context, message), P);
        assert_eq!(offset_of!(coio_exception_context, code), 2 * P);
        assert_eq!(offset_of!(coio_exception_context, error), 3 * P);
        assert_eq!(offset_of!(coio_exception_context, future), 4 * P);
        assert_eq!(offset_of!(coio_exception_context, handle), 5 * P);
        assert_eq!(offset_of!(coio_task_options, flags), 4);
        assert_eq!(offset_of!(coio_task_options, name), 8);
        assert_eq!(offset_of!(coio_task_options, stack_size), 8 + P);
        assert_eq!(offset_of!(coio_task_options, drop), 8 + P + Z);
        assert_eq!(offset_of!(coio_wait_result, done), Z);
        assert_eq!(offset_of!(coio_wait_result, npending), Z + P);
        assert_eq!(offset_of!(coio_wait_result, pending), 2 * Z + P);
        assert_eq!(size_of::<coio_wait_result>(), 2 * Z + 2 * P);
        assert_eq!(offset_of!(coio_bytes, data), Z);
        assert_eq!(offset_of!(coio_accepted, addrlen), 4);
        assert_eq!(offset_of!(coio_accepted, addr), 8);
        assert_eq!(align_of::<coio_task_options>(), align_of::<usize>());
    }

    #[test]
    fn links_against_the_library() {
        assert_eq!(unsafe { coio_version_number() }, COIO_VERSION_NUMBER as i32);
    }
}
