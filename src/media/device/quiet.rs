//! Keeps alsa-lib's own complaints ("ALSA lib confmisc.c:855:(parse_card) cannot find card
//! '0'", ...) off the terminal.
//!
//! alsa-lib prints them to stderr from a process-wide handler, and replacing that handler
//! (`snd_lib_error_set_handler`) needs a C-variadic function, which stable Rust cannot define
//! (`c_variadic` is unstable; transmuting an ordinary `fn` into the variadic type is an ABI
//! mismatch). Since alsa-lib 1.1.6 the default handler first calls a *thread-local* handler
//! whose last parameter is a plain `va_list` (`snd_lib_error_set_local`), and that one we can
//! write. So every thread that calls into ALSA for us installs it before its first ALSA call:
//! the device thread, the listing thread, and cpal's capture and playback threads (from their
//! first callback and from the error callback, which run on those threads).
//!
//! Redirecting fd 2 to /dev/null around probing was the alternative; it was rejected because
//! it is process-wide (it would also swallow panics and log lines from every other thread for
//! as long as it lasted) and cannot cover errors from a device that fails mid-call.

#[cfg(any(
    target_os = "linux",
    target_os = "dragonfly",
    target_os = "freebsd",
    target_os = "netbsd"
))]
mod imp {
    use std::ffi::{c_char, c_int};

    /// Has exactly the signature alsa-sys declares for `snd_local_error_handler_t`, and
    /// ignores every argument.
    unsafe extern "C" fn discard(
        _file: *const c_char,
        _line: c_int,
        _function: *const c_char,
        _err: c_int,
        _fmt: *const c_char,
        _args: *mut alsa_sys::__va_list_tag,
    ) {
    }

    pub fn silence_this_thread() {
        // SAFETY: stores a function pointer in alsa-lib's thread-local handler slot; no memory
        // is passed and `discard` matches the declared type. No allocation, lock or syscall,
        // so it is also fine inside an audio callback.
        unsafe {
            alsa_sys::snd_lib_error_set_local(Some(discard));
        }
    }
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "dragonfly",
    target_os = "freebsd",
    target_os = "netbsd"
)))]
mod imp {
    /// Other hosts (CoreAudio, WASAPI) do not print on their own.
    pub fn silence_this_thread() {}
}

pub(super) use imp::silence_this_thread;
