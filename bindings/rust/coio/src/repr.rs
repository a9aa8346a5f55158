//! [`Repr`]: asyncio's `repr()` of futures and of their results.
use crate::future::{value_from_raw, Future, RawFuture};
use coio_sys as sys;
use std::ffi::CString;
use std::os::raw::{c_char, c_long, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A value as Python's `repr()` shows it (as asyncio's future repr shows a result).  Give a
/// result its repr with [`Future::set_result_repr`].
///
/// ```
/// use coio::Repr;
/// assert_eq!("it's".repr(), "\"it's\"");
/// assert_eq!(42u8.repr(), "42");
/// assert_eq!(true.repr(), "True");
/// assert_eq!(().repr(), "None");
/// assert_eq!(None::<i32>.repr(), "None");
/// ```
pub trait Repr {
    /// The repr.
    ///
    /// ```
    /// use coio::Repr;
    /// assert_eq!(String::from("a").repr(), "'a'");
    /// ```
    fn repr(&self) -> String;
}

impl Repr for str {
    /// Python's `repr()` of a str, shortened as asyncio's reprlib does (coio's
    /// `coio_repr_str`).
    fn repr(&self) -> String {
        let c = CString::new(self.replace('\0', "\\x00")).unwrap_or_default();
        format_with(|buf, size| unsafe {
            sys::coio_repr_str(c.as_ptr() as *const c_void, buf, size)
        })
        .unwrap_or_else(|| "?".into())
    }
}

impl Repr for String {
    fn repr(&self) -> String {
        self.as_str().repr()
    }
}

impl Repr for &str {
    fn repr(&self) -> String {
        (*self).repr()
    }
}

impl Repr for bool {
    fn repr(&self) -> String {
        if *self { "True" } else { "False" }.into()
    }
}

impl Repr for () {
    fn repr(&self) -> String {
        "None".into()
    }
}

impl<T: Repr> Repr for Option<T> {
    fn repr(&self) -> String {
        match self {
            None => "None".into(),
            Some(v) => v.repr(),
        }
    }
}

macro_rules! int_repr {
    ($($t:ty)*) => {$(
        impl Repr for $t {
            fn repr(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
int_repr!(i8 i16 i32 i64 i128 isize u8 u16 u32 u64 u128 usize);

/// Runs an snprintf-style formatter into a String (None if it fails).
fn format_with(f: impl Fn(*mut c_char, usize) -> c_long) -> Option<String> {
    let mut buf = vec![0u8; 256];
    loop {
        let n = f(buf.as_mut_ptr() as *mut c_char, buf.len());
        if n < 0 {
            return None;
        }
        let n = n as usize;
        if n < buf.len() {
            buf.truncate(n);
            return Some(String::from_utf8_lossy(&buf).into_owned());
        }
        buf.resize(n + 1, 0);
    }
}

/// The coio_repr_fn of a `T` made by `value_into_raw`.
pub(crate) unsafe extern "C" fn repr_value<T: Repr + 'static>(
    value: *const c_void,
    buf: *mut c_char,
    size: usize,
) -> c_long {
    let s = catch_unwind(AssertUnwindSafe(|| {
        // Borrow the value without owning it (inline values are copied bits, never dropped).
        let v = std::mem::ManuallyDrop::new(value_from_raw_ref::<T>(value));
        v.repr()
    }));
    let Ok(s) = s else { return -1 };
    if size > 0 && !buf.is_null() {
        let n = s.len().min(size - 1);
        std::ptr::copy_nonoverlapping(s.as_ptr(), buf as *mut u8, n);
        *buf.add(n) = 0;
    }
    s.len() as c_long
}

/// A bitwise view of the value at `value` (boxed: read through the pointer; inline: decoded).
unsafe fn value_from_raw_ref<T: 'static>(value: *const c_void) -> T {
    if crate::future::is_inline::<T>() {
        value_from_raw::<T>(value as *mut c_void)
    } else {
        std::ptr::read(value as *const T)
    }
}

impl<T> Future<T> {
    /// asyncio's `repr()` of the future (or task): `<Future pending
    /// cb=[_run_until_complete_cb()]>`, `<Future finished result='done'>`, `<Task pending
    /// name='Task-1' coro=<...> ...>` (coio's `coio_future_repr`).  A result shows through
    /// its [`Repr`] when set with [`set_result_repr`](Future::set_result_repr).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let f = lp.create_future::<String>().unwrap();
    /// assert_eq!(f.repr(), "<Future pending>");
    /// f.set_result_repr("ok".to_string()).unwrap();
    /// assert_eq!(f.repr(), "<Future finished result='ok'>");
    /// f.cancel(None).unwrap();
    /// ```
    pub fn repr(&self) -> String {
        let raw = self.raw_future();
        if raw.is_null() {
            return "<Future finished exception=?>".into();
        }
        format_with(|buf, size| unsafe { sys::coio_future_repr(raw, buf, size) })
            .unwrap_or_else(|| "<Future ?>".into())
    }

    /// As [`set_result`](Future::set_result), with the value's [`Repr`] for
    /// [`repr`](Future::repr).
    ///
    /// ```
    /// let lp = coio::Loop::new_virtual().unwrap();
    /// let f = lp.create_future::<u32>().unwrap();
    /// f.set_result_repr(7).unwrap();
    /// assert_eq!(f.repr(), "<Future finished result=7>");
    /// assert_eq!(f.take(), Ok(7));
    /// ```
    pub fn set_result_repr(&self, value: T) -> crate::Result<()>
    where
        T: Repr + 'static,
    {
        self.set_result_with(value, Some(repr_value::<T>))
    }
}
