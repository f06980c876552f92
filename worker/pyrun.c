/* pyrun.c - the embedded CPython interpreter (see pyrun.h). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "pyrun.h"

#include <errno.h>
#include <string.h>

#include "log.h"

/* Where the system's stdlib lives (prefix of /usr/lib/python3.11). Fixed at
 * build time rather than searched from the binary's location, so the
 * interpreter never picks up a stray lib/python3.11 next to wherever the
 * zygote is installed (build/, /usr/local/libexec/sandq/, ...). */
#ifndef SANDQ_PYTHON_HOME
#define SANDQ_PYTHON_HOME "/usr"
#endif

/* The runtime source, worker/runtime.py, embedded by runtime_blob.S. */
extern const char sandq_runtime_py[];

/* Outcome tags the runtime may return: the frames that describe a result.
 * 'Z', 'V' and 'E' are the C side's alone. */
static const char runtime_tags[] = {
    FRAME_OUT_STATUS, FRAME_OUT_RESULT, FRAME_OUT_ERROR_TYPE, FRAME_OUT_ERROR,
    FRAME_OUT_TRACEBACK, FRAME_OUT_STDOUT, FRAME_OUT_STDOUT_TRUNCATED,
    FRAME_OUT_TIMING, 0};

/* The runtime's entry points, owned references; CPython is per process, so
 * this state is too. */
static struct {
    PyObject *after_fork;
    PyObject *run_job;
} runtime;

/* Report a CPython init failure; the zygote still has stderr here. */
static int pyrun_status_error(PyStatus status)
{
    log_error("python initialisation failed: %s%s%s",
              status.func ? status.func : "", status.func ? ": " : "",
              status.err_msg ? status.err_msg : "unknown error");
    return -EINVAL;
}

/* Isolated mode: no environment, no site, no user dirs, no bytecode
 * writes, no signal handlers, no argv; the runtime decides the rest. */
static int pyrun_start_interpreter(void)
{
    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.site_import = 0;
    config.use_environment = 0;
    config.user_site_directory = 0;
    config.write_bytecode = 0;
    config.install_signal_handlers = 0;
    config.parse_argv = 0;
    config.faulthandler = 0;
    config.tracemalloc = 0;
    config.configure_c_stdio = 0;
    PyStatus status = PyConfig_SetString(&config, &config.home, L"" SANDQ_PYTHON_HOME);
    if (!PyStatus_Exception(status))
        status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status))
        return pyrun_status_error(status);
    return 0;
}

/* Log and clear the pending Python exception (zygote only). */
static int pyrun_python_error(const char *what)
{
    log_error("python: %s failed:", what);
    PyErr_Print();
    return -EINVAL;
}

/* Execute the embedded source as module `sandq_runtime`. It is not put in
 * sys.modules: nothing in a job should be able to import it by name. */
static PyObject *pyrun_load_runtime(void)
{
    PyObject *code = Py_CompileString(sandq_runtime_py, "<sandq_runtime>", Py_file_input);
    if (!code)
        return NULL;
    PyObject *module = PyModule_New("sandq_runtime");
    PyObject *dict = module ? PyModule_GetDict(module) : NULL;
    PyObject *ret = NULL;
    if (dict && PyDict_SetItemString(dict, "__builtins__", PyEval_GetBuiltins()) == 0)
        ret = PyEval_EvalCode(code, dict, dict);
    Py_DECREF(code);
    if (!ret) {
        Py_XDECREF(module);
        return NULL;
    }
    Py_DECREF(ret);
    return module;
}

/* A list of str from the C allowlist, or None for the runtime default. */
static PyObject *pyrun_module_list(const char *const *modules, size_t n)
{
    if (n == 0)
        Py_RETURN_NONE;
    PyObject *list = PyList_New((Py_ssize_t)n);
    if (!list)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        PyObject *name = PyUnicode_FromString(modules[i]);
        if (!name) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, name);
    }
    return list;
}

/* 1 when the function takes a parameter called name (positional or
 * keyword-only), 0 when not, -1 with a Python error set. Read from its
 * code object: importing inspect would load modules the sandbox does not
 * need. */
static int pyrun_has_parameter(PyObject *func, const char *name)
{
    PyObject *code = PyObject_GetAttrString(func, "__code__");
    if (!code)
        return -1;
    int found = -1;
    PyObject *names = PyObject_GetAttrString(code, "co_varnames");
    PyObject *argc = PyObject_GetAttrString(code, "co_argcount");
    PyObject *kwc = PyObject_GetAttrString(code, "co_kwonlyargcount");
    if (names && argc && kwc && PyTuple_Check(names)) {
        Py_ssize_t n = PyLong_AsSsize_t(argc) + PyLong_AsSsize_t(kwc);
        found = PyErr_Occurred() ? -1 : 0;
        for (Py_ssize_t i = 0; found == 0 && i < n && i < PyTuple_GET_SIZE(names); i++) {
            PyObject *item = PyTuple_GET_ITEM(names, i);
            found = PyUnicode_Check(item) && PyUnicode_CompareWithASCIIString(item, name) == 0;
        }
    }
    Py_XDECREF(names);
    Py_XDECREF(argc);
    Py_XDECREF(kwc);
    Py_DECREF(code);
    return found;
}

/* init(allowed), or init(allowed, interpreter=False) when the restricted
 * interpreter is to stay off and the runtime knows the keyword. */
static PyObject *pyrun_call_init(PyObject *module, PyObject *allowed, bool interpreter,
                                 bool *ret_interpreter)
{
    PyObject *init = PyObject_GetAttrString(module, "init");
    if (!init)
        return NULL;
    int switchable = interpreter ? 0 : pyrun_has_parameter(init, "interpreter");
    PyObject *ret = NULL;
    if (switchable < 0) {
        Py_DECREF(init);
        return NULL;
    }
    PyObject *args = PyTuple_Pack(1, allowed);
    PyObject *kwargs = switchable ? Py_BuildValue("{s:O}", "interpreter", Py_False) : NULL;
    if (args && (!switchable || kwargs))
        ret = PyObject_Call(init, args, kwargs);
    Py_XDECREF(args);
    Py_XDECREF(kwargs);
    Py_DECREF(init);
    *ret_interpreter = !switchable;
    return ret;
}

/* init() and keep after_fork/run_job for the children. */
static int pyrun_init_runtime(PyObject *module, const char *const *modules, size_t n,
                              bool interpreter, bool *ret_interpreter)
{
    PyObject *allowed = pyrun_module_list(modules, n);
    if (!allowed)
        return pyrun_python_error("building the module list");
    PyObject *ret = pyrun_call_init(module, allowed, interpreter, ret_interpreter);
    Py_DECREF(allowed);
    if (!ret)
        return pyrun_python_error("sandq_runtime.init()");
    Py_DECREF(ret);
    runtime.after_fork = PyObject_GetAttrString(module, "after_fork");
    runtime.run_job = PyObject_GetAttrString(module, "run_job");
    if (!runtime.after_fork || !runtime.run_job)
        return pyrun_python_error("looking up the runtime entry points");
    return 0;
}

int pyrun_init(const char *const *modules, size_t n_modules, bool interpreter,
               bool *ret_interpreter)
{
    int r = pyrun_start_interpreter();
    if (r < 0)
        return r;
    PyObject *module = pyrun_load_runtime();
    if (!module)
        return pyrun_python_error("loading the embedded runtime");
    r = pyrun_init_runtime(module, modules, n_modules, interpreter, ret_interpreter);
    Py_DECREF(module);
    return r;
}

void pyrun_version(char *buf, size_t size)
{
    const char *v = Py_GetVersion();
    size_t n = strcspn(v, " ");
    if (size == 0)
        return;
    if (n >= size)
        n = size - 1;
    memcpy(buf, v, n);
    buf[n] = '\0';
}

void pyrun_before_fork(void)
{
    PyOS_BeforeFork();
}

void pyrun_after_fork_parent(void)
{
    PyOS_AfterFork_Parent();
}

void pyrun_after_fork_server(void)
{
    PyOS_AfterFork_Child();
}

/* Turn the pending exception into -ENOMEM or `other`, and clear it. */
static int pyrun_error_code(int other)
{
    int r = PyErr_ExceptionMatches(PyExc_MemoryError) ? -ENOMEM : other;
    PyErr_Clear();
    return r;
}

int pyrun_after_fork_child(void)
{
    PyOS_AfterFork_Child();
    PyObject *ret = PyObject_CallNoArgs(runtime.after_fork);
    if (!ret)
        return pyrun_error_code(-EINVAL);
    Py_DECREF(ret);
    return 0;
}

/* bytes for a present field, None for an absent one (new reference). */
static PyObject *pyrun_slice_object(const struct pyrun_slice *s)
{
    if (!s->data)
        Py_RETURN_NONE;
    return PyBytes_FromStringAndSize(s->data, (Py_ssize_t)s->len);
}

/* The argument tuple of run_job(), one object per field. */
static PyObject *pyrun_job_args(const struct pyrun_job *job)
{
    PyObject *args = PyTuple_New(PYRUN_FIELD_COUNT);
    if (!args)
        return NULL;
    for (Py_ssize_t i = 0; i < PYRUN_FIELD_COUNT; i++) {
        PyObject *o = pyrun_slice_object(&job->field[i]);
        if (!o) {
            Py_DECREF(args);
            return NULL;
        }
        PyTuple_SET_ITEM(args, i, o);
    }
    return args;
}

/* Append one (tag: 1-char str, data: bytes) pair as a frame. */
static int pyrun_append_pair(PyObject *item, struct buf *out)
{
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2)
        return -EPROTO;
    PyObject *tag = PyTuple_GET_ITEM(item, 0);
    PyObject *data = PyTuple_GET_ITEM(item, 1);
    if (!PyUnicode_Check(tag) || PyUnicode_GET_LENGTH(tag) != 1 || !PyBytes_Check(data))
        return -EPROTO;
    Py_UCS4 ch = PyUnicode_READ_CHAR(tag, 0);
    if (ch == 0 || ch > 0x7f || !strchr(runtime_tags, (int)ch))
        return -EPROTO;
    int r = buf_append_frame(out, (uint8_t)ch, PyBytes_AS_STRING(data),
                             (size_t)PyBytes_GET_SIZE(data));
    return r == -E2BIG ? -EPROTO : r;
}

/* The runtime returns a list of pairs; anything else is its bug. */
static int pyrun_append_frames(PyObject *list, struct buf *out)
{
    if (!PyList_Check(list))
        return -EPROTO;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
        int r = pyrun_append_pair(PyList_GET_ITEM(list, i), out);
        if (r < 0)
            return r;
    }
    return 0;
}

int pyrun_run_job(const struct pyrun_job *job, struct buf *out)
{
    PyObject *args = pyrun_job_args(job);
    if (!args)
        return pyrun_error_code(-ENOMEM);
    PyObject *list = PyObject_Call(runtime.run_job, args, NULL);
    Py_DECREF(args);
    if (!list)
        return pyrun_error_code(-EPROTO);
    int r = pyrun_append_frames(list, out);
    Py_DECREF(list);
    return r;
}
