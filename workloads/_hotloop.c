/* The sampler's hot loop in C: `ProcSampler._scan_threads`, giving the same
 * samples, lists and sums; plus `procfs.parse_stat` for each process's stat
 * and the busiest-first order of `ProcSampler.sample`.
 *
 * Optional. `workloads.sampler` uses it when it was built and falls back to
 * the Python loop otherwise (or with CCVIZ_PURE_PYTHON=1); the tests run both
 * over the same randomised fake /proc trees and compare every view.
 *
 * Why: with every thread of a large tree busy, the Python loop cost 2.5-3x
 * the bare pread of each thread's schedstat (parsing, bookkeeping, and the
 * status re-read every busy thread needs once a second). `scan` goes in
 * three passes:
 *   1. every schedstat read through a held fd, back to back, without the GIL
 *      (the kernel's caches stay warm, as in the floor's own loop, and the
 *      UI thread runs meanwhile);
 *   2. the status reads pass 3 is sure to make (`wants_status`), the same way;
 *   3. the loop: an unchanged schedstat is a memcmp against the last read (no
 *      object made), a moved one three parsed numbers and one ThreadSample,
 *      a status refresh through a held fd a parse here (`refresh_inline`).
 * Everything rare stays in Python and is called exactly where the Python
 * loop calls it: path reads (`read_file`), other refreshes (`refresh`),
 * threads without schedstat (`update_fallback`), odd schedstat text
 * (`parse3`); and a read pass 3 finds stale is made again in place.
 *
 * Thread is a slots dataclass: its fields are read and written through the
 * slot offsets its member descriptors give (`bind`), which is what the
 * descriptors themselves do, without the attribute lookup.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <limits.h>
#include <unistd.h>

#define SCHEDSTAT_SIZE 256
#define STATUS_SIZE 16384 /* as tracker._STATUS_SIZE: status can outgrow a page */
#define EPS 1e-6          /* as sampler._EPS */
#define GIL_EVERY 64      /* threads between two chances for other threads to run */
#define PREFETCH 8        /* threads ahead */
#define SLOT_SIZE 48      /* a schedstat line is ~40 bytes; a full slot is read again */
#define STATUS_AHEAD 4096 /* a status is ~1.4 kB; one that fills this is read again */

/* One thread's schedstat, read ahead of the loop; and its status, where the
 * loop is sure to want it (a refresh due, the thread moved since its last
 * status read: see `wants_status`). */
typedef struct {
    PyObject *th;      /* which thread it was read for (compared, never dereferenced) */
    int fd;            /* the fd it was read through; -1: not read (by path, or not a Thread) */
    int len;           /* bytes read; -1: the read failed; -2: not read */
    int status_fd;     /* -1: status not read ahead */
    int status_len;    /* as len */
    char *status;      /* STATUS_AHEAD bytes in the scan's status block */
    char buf[SLOT_SIZE];
} Slot;

enum {
    F_PID, F_TID, F_FD, F_RAW, F_UNTIL, F_FAST, F_DUE, F_SAMPLE, F_CPU, F_RUNQ,
    F_SWITCHES, F_NAME, F_STATE, F_VOL, F_INVOL, F_VOL_RATE, F_INVOL_RATE,
    F_STAT_RAW, F_STATUS_RAW, F_STAT_DUE, F_STATUS_DUE, F_PATH, F_STATUS_T,
    F_STATUS_FD, F_FALLBACK, N_FIELDS
};

static const char *const FIELD_NAMES[N_FIELDS] = {
    "pid", "tid", "fd", "raw", "until", "fast", "due", "sample", "cpu_ns", "runq_ns",
    "switches", "name", "state", "vol", "invol", "vol_rate", "invol_rate",
    "stat_raw", "status_raw", "stat_due", "status_due", "path", "status_t",
    "status_fd", "fallback",
};

#define N_SAMPLE_FIELDS 18
#define S_SWITCHES_PER_S 13
#define S_EXECUTING 9

static Py_ssize_t offsets[N_FIELDS];
static PyTypeObject *thread_type = NULL;
static PyTypeObject *sample_type = NULL;
static PyTypeObject *stat_type = NULL;  /* procfs.Stat */
static PyObject *stat_fallback = NULL;  /* procfs.parse_stat, for what parse_stat leaves */
static PyObject *zero_f = NULL, *one_f = NULL, *never_f = NULL, *always_f = NULL;
static PyObject *cpu_str = NULL;

/* A borrowed reference to a slot; NULL (AttributeError set) if unset. */
static inline PyObject *
get(PyObject *th, int f)
{
    PyObject *v = *(PyObject **)((char *)th + offsets[f]);
    if (v == NULL)
        PyErr_Format(PyExc_AttributeError, "Thread.%s is not set", FIELD_NAMES[f]);
    return v;
}

/* Store a new reference into a slot (steals `v`). */
static inline void
put(PyObject *th, int f, PyObject *v)
{
    PyObject **addr = (PyObject **)((char *)th + offsets[f]);
    PyObject *old = *addr;
    *addr = v;
    Py_XDECREF(old);
}

static inline void
put_borrowed(PyObject *th, int f, PyObject *v)
{
    Py_INCREF(v);
    put(th, f, v);
}

static int
as_double(PyObject *th, int f, double *out)
{
    PyObject *v = get(th, f);
    if (v == NULL)
        return -1;
    if (PyFloat_CheckExact(v)) {
        *out = PyFloat_AS_DOUBLE(v);
        return 0;
    }
    *out = PyFloat_AsDouble(v);
    return (*out == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

static int
as_ll(PyObject *v, long long *out)
{
    *out = PyLong_AsLongLong(v);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

static int
truthy(PyObject *th, int f)
{
    PyObject *v = get(th, f);
    return v == NULL ? -1 : PyObject_IsTrue(v);
}

/* bind(Thread, ThreadSample, Stat, procfs.parse_stat, NEVER, ALWAYS): learn
 * the slot offsets, the tuple types to build, and where odd stat text goes. */
static PyObject *
bind(PyObject *self, PyObject *args)
{
    PyObject *tcls, *scls, *stcls, *py_parse_stat;
    double never, always;
    if (!PyArg_ParseTuple(args, "O!O!O!Odd", &PyType_Type, &tcls, &PyType_Type, &scls,
                          &PyType_Type, &stcls, &py_parse_stat, &never, &always))
        return NULL;
    if (!PyType_IsSubtype((PyTypeObject *)scls, &PyTuple_Type)
        || !PyType_IsSubtype((PyTypeObject *)stcls, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "the sample and stat types must be tuple subclasses");
        return NULL;
    }
    for (int f = 0; f < N_FIELDS; f++) {
        PyObject *d = PyObject_GetAttrString(tcls, FIELD_NAMES[f]);
        if (d == NULL)
            return NULL;
        if (!Py_IS_TYPE(d, &PyMemberDescr_Type)) {
            Py_DECREF(d);
            return PyErr_Format(PyExc_TypeError, "Thread.%s is not a slot", FIELD_NAMES[f]);
        }
        PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
        if (m->type != T_OBJECT_EX) {
            Py_DECREF(d);
            return PyErr_Format(PyExc_TypeError, "Thread.%s: unexpected slot kind",
                                FIELD_NAMES[f]);
        }
        offsets[f] = m->offset;
        Py_DECREF(d);
    }
    Py_XSETREF(thread_type, (PyTypeObject *)Py_NewRef(tcls));
    Py_XSETREF(sample_type, (PyTypeObject *)Py_NewRef(scls));
    Py_XSETREF(stat_type, (PyTypeObject *)Py_NewRef(stcls));
    Py_XSETREF(stat_fallback, Py_NewRef(py_parse_stat));
    Py_XSETREF(never_f, PyFloat_FromDouble(never));
    Py_XSETREF(always_f, PyFloat_FromDouble(always));
    if (never_f == NULL || always_f == NULL)
        return NULL;
    Py_RETURN_NONE;
}

/* Parse "a b c\n" (decimal, ASCII); 0 on success, -1 if it is anything else. */
static int
parse3(const char *p, Py_ssize_t n, long long out[3])
{
    const char *end = p + n;
    for (int i = 0; i < 3; i++) {
        while (p < end && (*p == ' ' || *p == '\n' || *p == '\t'))
            p++;
        if (p == end || *p < '0' || *p > '9')
            return -1;
        unsigned long long v = 0;
        int digits = 0;
        while (p < end && *p >= '0' && *p <= '9') {
            v = v * 10 + (unsigned long long)(*p - '0');
            if (++digits > 18)
                return -1; /* leave huge numbers to Python's ints */
            p++;
        }
        if (p < end && !(*p == ' ' || *p == '\n' || *p == '\t'))
            return -1;
        out[i] = (long long)v;
    }
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\t'))
        p++;
    return p == end ? 0 : -1;
}

/* A new ThreadSample from 18 new references (stolen, even on failure). */
static PyObject *
make_sample(PyObject *items[N_SAMPLE_FIELDS])
{
    PyObject *s = sample_type->tp_alloc(sample_type, N_SAMPLE_FIELDS);
    if (s == NULL) {
        for (int i = 0; i < N_SAMPLE_FIELDS; i++)
            Py_XDECREF(items[i]);
        return NULL;
    }
    for (int i = 0; i < N_SAMPLE_FIELDS; i++) {
        if (items[i] == NULL) { /* an allocation failed */
            for (int j = 0; j < N_SAMPLE_FIELDS; j++)
                if (j != i)
                    Py_XDECREF(items[j]);
            Py_DECREF(s);
            return NULL;
        }
        PyTuple_SET_ITEM(s, i, items[i]);
    }
#ifndef KEEP_TRACKED
    /* ints, floats, strs, None and bools cannot form a cycle: the collector
     * would untrack it at its first pass (as it does any such tuple); done
     * now, the old sample's dealloc skips unlinking it from among cold ones. */
    PyObject_GC_UnTrack(s);
#endif
    return s;
}

static inline PyObject *
new_float(double v)
{
    if (v == 0.0 && !signbit(v))
        return Py_NewRef(zero_f);
    if (v == 1.0)
        return Py_NewRef(one_f);
    return PyFloat_FromDouble(v);
}

/* True if `err` is pending and one of `kinds` (a tuple): then it is cleared. */
static int
clear_if(PyObject *kinds)
{
    if (PyErr_ExceptionMatches(kinds)) {
        PyErr_Clear();
        return 1;
    }
    return 0;
}

/* What one scan needs of the sampler, read once. */
typedef struct {
    PyObject *sampler;
    double t, dt, status_iv, stat_iv, prev_t;
    int has_prev_t;
    PyObject *t_obj; /* t as a float, stored as status_t */
    PyObject *status_hook; /* the sampler's _status_hook, or NULL: told of each status read */
    char *status_buf; /* this scan's own (PyMem_RawMalloc'ed when first needed) */
    Slot *cur;        /* the Slot of the thread being looked at, or NULL */
} Ctx;

/* Python's float floor division (Objects/floatobject.c, _float_div_mod). */
static double
py_floordiv(double vx, double wx)
{
    double mod = fmod(vx, wx);
    double div = (vx - mod) / wx;
    if (mod) {
        if ((wx < 0) != (mod < 0))
            div -= 1.0;
    }
    double floordiv;
    if (div) {
        floordiv = floor(div);
        if (div - floordiv > 0.5)
            floordiv += 1.0;
    } else {
        floordiv = copysign(0.0, vx / wx);
    }
    return floordiv;
}

/* tracker.advance: the next due time after t, whole intervals on from due. */
static double
advance(double due, double t, double interval)
{
    return interval <= 0 ? t : due + interval * (py_floordiv(t - due, interval) + 1.0);
}

static int
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Strict decimal at *p (advances it); -1 if none or too long for us. */
static int
digits(const char **p, const char *end, long long *out)
{
    unsigned long long v = 0;
    int n = 0;
    while (*p < end && **p >= '0' && **p <= '9') {
        if (++n > 18)
            return -1;
        v = v * 10 + (unsigned long long)(**p - '0');
        (*p)++;
    }
    if (n == 0 || (*p < end && !is_space(**p)))
        return -1;
    *out = (long long)v;
    return 0;
}

static const char *
find_last(const char *hay, Py_ssize_t n, const char *needle, Py_ssize_t m)
{
    for (Py_ssize_t i = n - m; i >= 0; i--)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, m) == 0)
            return hay + i;
    return NULL;
}

/* procfs.parse_status in its common shape: the switch counts, the name (bytes)
 * and the state letter. 0 on success, -1 where Python's parse would take a
 * slower path or give None for name or state (the caller then defers). */
static int
parse_status(const char *raw, Py_ssize_t n, long long *vol, long long *invol,
             const char **name, Py_ssize_t *name_len, char *state)
{
    static const char VOL[] = "\nvoluntary_ctxt_switches:";
    static const char INVOL[] = "nonvoluntary_ctxt_switches:";
    const char *end = raw + n, *p = find_last(raw, n, VOL, sizeof VOL - 1);
    if (p == NULL)
        return -1;
    p += sizeof VOL - 1;
    if (p == end || !is_space(*p))
        return -1;
    while (p < end && is_space(*p))
        p++;
    if (digits(&p, end, vol) < 0)
        return -1;
    while (p < end && is_space(*p))
        p++;
    if (end - p < (Py_ssize_t)(sizeof INVOL - 1) || memcmp(p, INVOL, sizeof INVOL - 1) != 0)
        return -1;
    p += sizeof INVOL - 1;
    if (p == end || !is_space(*p))
        return -1;
    while (p < end && is_space(*p))
        p++;
    if (digits(&p, end, invol) < 0)
        return -1;
    if (n < 6 || memcmp(raw, "Name:\t", 6) != 0)
        return -1;
    const char *eol = memchr(raw, '\n', n);
    if (eol == NULL)
        return -1;
    *name = raw + 6;
    *name_len = eol - (raw + 6);
    if (memchr(*name, '\\', *name_len) != NULL)
        return -1;
    static const char STATE[] = "\nState:\t";
    const char *st = NULL;
    for (const char *q = eol; q + (sizeof STATE - 1) <= end; q++) {
        if (*q == '\n' && memcmp(q, STATE, sizeof STATE - 1) == 0) {
            st = q;
            break;
        }
    }
    if (st == NULL || st + 8 >= end || is_space(st[8]))
        return -1;
    *state = st[8];
    return 0;
}

static int
add_to_sum(PyObject *sampler, PyObject *attr, double delta)
{
    PyObject *v = PyObject_GetAttr(sampler, attr);
    if (v == NULL)
        return -1;
    double x = PyFloat_AsDouble(v);
    Py_DECREF(v);
    if (x == -1.0 && PyErr_Occurred())
        return -1;
    PyObject *r = PyFloat_FromDouble(x + delta);
    if (r == NULL)
        return -1;
    int rc = PyObject_SetAttr(sampler, attr, r);
    Py_DECREF(r);
    return rc;
}

static PyObject *vol_sum_attr, *invol_sum_attr;

static double
get_float_attr(PyObject *o, const char *name)
{
    PyObject *v = PyObject_GetAttrString(o, name);
    if (v == NULL)
        return -1.0;
    double x = PyFloat_AsDouble(v);
    Py_DECREF(v);
    return x;
}

/* `ProcSampler._refresh` in its common case: a status turn of a schedstat
 * thread whose status reads through a held fd and parses in full (so it
 * brings the name and state too, and stands in for this turn's stat read).
 * 1 if done, 0 if nothing was changed and Python's `_refresh` must run, -1 on
 * error. Every decision to defer is taken before anything is changed. */
static int
refresh_inline(Ctx *c, PyObject *th, PyObject *raw, PyObject *prev)
{
    double t = c->t, status_due, stat_due, status_t;
    PyObject *v;
    int r;
    if ((r = truthy(th, F_FALLBACK)) != 0)
        return r < 0 ? -1 : 0;
    if (as_double(th, F_STATUS_DUE, &status_due) < 0 || as_double(th, F_STAT_DUE, &stat_due) < 0
        || as_double(th, F_STATUS_T, &status_t) < 0)
        return -1;
    if (!(t >= status_due) || !isfinite(status_due) || !isfinite(stat_due))
        return 0;
    PyObject *vol_o = get(th, F_VOL), *invol_o = get(th, F_INVOL);
    PyObject *status_raw = get(th, F_STATUS_RAW), *stat_raw = get(th, F_STAT_RAW);
    if (vol_o == NULL || invol_o == NULL || status_raw == NULL || stat_raw == NULL)
        return -1;
    if (vol_o == Py_None || invol_o == Py_None)
        return 0; /* status was unreadable: Python keeps that count */
    double old_vr = 0.0, old_ir = 0.0;
    PyObject *vr = get(th, F_VOL_RATE), *ir = get(th, F_INVOL_RATE);
    if (vr == NULL || ir == NULL)
        return -1;
    if (vr != Py_None && (old_vr = PyFloat_AsDouble(vr)) == -1.0 && PyErr_Occurred())
        return -1;
    if (ir != Py_None && (old_ir = PyFloat_AsDouble(ir)) == -1.0 && PyErr_Occurred())
        return -1;
    int unchanged = PyObject_RichCompareBool(raw, status_raw, Py_EQ);
    if (unchanged < 0)
        return -1;
    if (unchanged) { /* not scheduled since: counts are unchanged; no name from it */
        int stat_differs = PyObject_RichCompareBool(raw, stat_raw, Py_NE);
        if (stat_differs < 0)
            return -1;
        if (t >= stat_due && stat_differs)
            return 0; /* a stat read is due: Python's */
        put_borrowed(th, F_VOL_RATE, zero_f);
        put_borrowed(th, F_INVOL_RATE, zero_f);
        put_borrowed(th, F_STATUS_T, c->t_obj);
        if (add_to_sum(c->sampler, vol_sum_attr, 0.0 - old_vr) < 0
            || add_to_sum(c->sampler, invol_sum_attr, 0.0 - old_ir) < 0)
            return -1;
        if (t >= stat_due)
            stat_due = advance(stat_due, t, c->stat_iv);
        status_due = advance(status_due, t, c->status_iv);
    } else {
        long fd;
        if ((v = get(th, F_STATUS_FD)) == NULL || ((fd = PyLong_AsLong(v)) == -1 && PyErr_Occurred()))
            return -1;
        if (fd < 0)
            return 0;
        Slot *sl = c->cur;
        const char *data;
        ssize_t n;
        if (sl != NULL && sl->status_fd == fd && sl->status_len > 0
            && sl->status_len < STATUS_AHEAD) {
            data = sl->status; /* read ahead (and announced to the hook then) */
            n = sl->status_len;
        } else {
            if (c->status_buf == NULL
                && (c->status_buf = PyMem_RawMalloc(STATUS_SIZE)) == NULL)
                return 0; /* Python's refresh reads it then */
            if (c->status_hook != NULL) {
                PyObject *h = PyObject_CallOneArg(c->status_hook, th);
                if (h == NULL)
                    return -1;
                Py_DECREF(h);
            }
            do {
                n = pread((int)fd, c->status_buf, STATUS_SIZE, 0);
            } while (n < 0 && errno == EINTR);
            data = c->status_buf;
        }
        if (n <= 0 || n >= STATUS_SIZE)
            return 0; /* gone, unreadable or outsized: Python says which */
        long long vol, invol, old_vol, old_invol;
        const char *name;
        Py_ssize_t name_len;
        char state;
        if (parse_status(data, n, &vol, &invol, &name, &name_len, &state) < 0)
            return 0;
        if (as_ll(vol_o, &old_vol) < 0 || as_ll(invol_o, &old_invol) < 0)
            return -1;
        double start = status_t;
        int prev_same = PyObject_RichCompareBool(prev, status_raw, Py_EQ);
        if (prev_same < 0)
            return -1;
        if (prev_same && c->has_prev_t) {
            /* min(t - status_iv, prev_t), then max(start, that), as Python picks */
            double a = t - c->status_iv, b = c->prev_t;
            double lo = b < a ? b : a;
            start = lo > start ? lo : start;
        }
        double span = t - start;
        long long dv = vol - old_vol, di = invol - old_invol;
        double vrate = span > 0 ? (double)(dv > 0 ? dv : 0) / span : 0.0;
        double irate = span > 0 ? (double)(di > 0 ? di : 0) / span : 0.0;
        /* the name: keep the same str when its text is unchanged */
        PyObject *name_o = get(th, F_NAME);
        if (name_o == NULL)
            return -1;
        Py_ssize_t cur_len;
        const char *cur = PyUnicode_Check(name_o) ? PyUnicode_AsUTF8AndSize(name_o, &cur_len) : NULL;
        if (cur == NULL) {
            PyErr_Clear();
            cur_len = -1;
        }
        if (cur_len == name_len && memcmp(cur, name, name_len) == 0)
            name_o = Py_NewRef(name_o);
        else if ((name_o = PyUnicode_DecodeUTF8(name, name_len, "replace")) == NULL)
            return -1;
        PyObject *state_o = (unsigned char)state < 0x80 ? PyUnicode_FromOrdinal(state)
                                                         : PyUnicode_FromOrdinal(0xFFFD);
        PyObject *vol_n = PyLong_FromLongLong(vol), *invol_n = PyLong_FromLongLong(invol);
        PyObject *vr_n = new_float(vrate), *ir_n = new_float(irate);
        if (state_o == NULL || vol_n == NULL || invol_n == NULL || vr_n == NULL || ir_n == NULL) {
            Py_DECREF(name_o);
            Py_XDECREF(state_o);
            Py_XDECREF(vol_n);
            Py_XDECREF(invol_n);
            Py_XDECREF(vr_n);
            Py_XDECREF(ir_n);
            return -1;
        }
        put(th, F_VOL_RATE, vr_n);
        put(th, F_INVOL_RATE, ir_n);
        put(th, F_VOL, vol_n);
        put(th, F_INVOL, invol_n);
        put_borrowed(th, F_STATUS_T, c->t_obj);
        put_borrowed(th, F_STATUS_RAW, raw);
        put(th, F_NAME, name_o);
        put(th, F_STATE, state_o);
        if (add_to_sum(c->sampler, vol_sum_attr, vrate - old_vr) < 0
            || add_to_sum(c->sampler, invol_sum_attr, irate - old_ir) < 0)
            return -1;
        /* name and state are as fresh as a stat read would make them */
        put_borrowed(th, F_STAT_RAW, raw);
        status_due = advance(status_due, t, c->status_iv);
        if (stat_due <= t + EPS) /* this turn's stat read is done: skip it */
            stat_due = advance(stat_due, t + EPS, c->stat_iv);
    }
    PyObject *sd = PyFloat_FromDouble(status_due), *td = PyFloat_FromDouble(stat_due);
    if (sd == NULL || td == NULL) {
        Py_XDECREF(sd);
        Py_XDECREF(td);
        return -1;
    }
    put(th, F_STATUS_DUE, sd);
    put(th, F_STAT_DUE, td);
    put_borrowed(th, F_DUE, stat_due <= status_due ? td : sd);
    return 1;
}

/* The refresh of a thread that has one due: inline if it can, else Python's. */
static int
do_refresh(Ctx *c, PyObject *refresh, PyObject *th, PyObject *raw, PyObject *prev)
{
    int r = refresh_inline(c, th, raw, prev);
    if (r != 0)
        return r < 0 ? -1 : 0;
    PyObject *res = PyObject_CallFunctionObjArgs(refresh, th, raw, prev, NULL);
    if (res == NULL)
        return -1;
    Py_DECREF(res);
    return 0;
}

/* phases.get(th.tid) into *out (borrowed; None if phases is None or has no
 * entry); -1 with an exception set on error. */
static int
phase_of(PyObject *phases, PyObject *th, PyObject **out)
{
    *out = Py_None;
    if (phases == Py_None)
        return 0;
    PyObject *tid = get(th, F_TID);
    if (tid == NULL)
        return -1;
    PyObject *phase = PyDict_GetItemWithError(phases, tid);
    if (phase == NULL)
        return PyErr_Occurred() ? -1 : 0;
    *out = phase;
    return 0;
}

/* A sample into this scan's lists: busy, with `neg` (its negated load, a
 * new reference, stolen) appended to load; or idle when `neg` is NULL. */
static int
file_sample(PyObject *busy, PyObject *load, PyObject *idle, PyObject *s, PyObject *neg)
{
    if (neg == NULL)
        return PyList_Append(idle, s);
    int rc = (PyList_Append(busy, s) < 0 || PyList_Append(load, neg) < 0) ? -1 : 0;
    Py_DECREF(neg);
    return rc;
}

static inline int
is_float(PyObject *v, double *out)
{
    if (v == NULL || !PyFloat_CheckExact(v))
        return 0;
    *out = PyFloat_AS_DOUBLE(v);
    return 1;
}

/* Will the loop read this thread's status itself (`refresh_inline`), given
 * its schedstat read ahead in `sl`? Read-only; any doubt answers 0 (the loop
 * then reads it as usual). */
static int
wants_status(PyObject *th, Slot *sl, double t)
{
#define SLOT(f) (*(PyObject **)((char *)th + offsets[f]))
    double until, due, status_due;
    PyObject *prev = SLOT(F_RAW), *status_raw = SLOT(F_STATUS_RAW), *fd = SLOT(F_STATUS_FD);
    if (SLOT(F_FAST) != Py_True || SLOT(F_FALLBACK) != Py_False || prev == NULL
        || !PyBytes_CheckExact(prev) || status_raw == NULL || !PyBytes_CheckExact(status_raw)
        || SLOT(F_VOL) == NULL || SLOT(F_VOL) == Py_None || SLOT(F_INVOL) == NULL
        || SLOT(F_INVOL) == Py_None || fd == NULL || !PyLong_CheckExact(fd))
        return 0;
    if (!is_float(SLOT(F_UNTIL), &until) || !is_float(SLOT(F_DUE), &due)
        || !is_float(SLOT(F_STATUS_DUE), &status_due))
        return 0;
#undef SLOT
    int same = sl->len == PyBytes_GET_SIZE(prev) && memcmp(sl->buf, PyBytes_AS_STRING(prev), sl->len) == 0;
    if ((same && t < until) || !(t >= due) || !(t >= status_due) || !isfinite(status_due))
        return 0;
    /* the status read is skipped when schedstat has not moved since the last one */
    if (sl->len == PyBytes_GET_SIZE(status_raw)
        && memcmp(sl->buf, PyBytes_AS_STRING(status_raw), sl->len) == 0)
        return 0;
    long v = PyLong_AsLong(fd);
    if (v < 0 || v > INT_MAX) {
        PyErr_Clear();
        return 0;
    }
    sl->status_fd = (int)v;
    return 1;
}

/* scan(sampler, threads, phases, read_file, parse3, gone_errors, refresh_errors)
 * -> (gone, d_cpu_sum, d_sw_sum, sps_sum): `ProcSampler._scan_threads`.
 * phases is a dict or None; the sampler's lists (_busy, _load, _idle) are
 * appended to, its _vol_sum / _invol_sum updated, as the Python loop does.
 */
static PyObject *
scan(PyObject *self, PyObject *args)
{
    PyObject *sampler, *threads, *phases, *read_file, *py_parse3, *gone_errors, *refresh_errors;
    if (!PyArg_ParseTuple(args, "OO!OOOOO", &sampler, &PyList_Type, &threads, &phases,
                          &read_file, &py_parse3, &gone_errors, &refresh_errors))
        return NULL;
    if (thread_type == NULL)
        return PyErr_Format(PyExc_RuntimeError, "bind() first");
    if (phases != Py_None && !PyDict_Check(phases))
        return PyErr_Format(PyExc_TypeError, "phases must be a dict or None");
    if (phases != Py_None && PyDict_GET_SIZE(phases) == 0)
        phases = Py_None;
    Ctx ctx = {.sampler = sampler, .status_buf = NULL};
    PyObject *refresh = NULL, *update_fallback = NULL, *busy = NULL, *load = NULL, *idle = NULL;
    PyObject *gone = NULL, *prev_t = NULL, *hook = NULL;
    Slot *slots = NULL;
    char *status_block = NULL;
    double sps_sum = 0.0;
    if ((ctx.t_obj = PyObject_GetAttrString(sampler, "_t")) == NULL
        || (ctx.t = PyFloat_AsDouble(ctx.t_obj), PyErr_Occurred())
        || (ctx.dt = get_float_attr(sampler, "_dt"), PyErr_Occurred())
        || (ctx.status_iv = get_float_attr(sampler, "_status_iv"), PyErr_Occurred())
        || (ctx.stat_iv = get_float_attr(sampler, "_stat_iv"), PyErr_Occurred())
        || (sps_sum = get_float_attr(sampler, "_sps"), PyErr_Occurred())
        || (prev_t = PyObject_GetAttrString(sampler, "_prev_t")) == NULL
        || (refresh = PyObject_GetAttrString(sampler, "_refresh")) == NULL
        || (update_fallback = PyObject_GetAttrString(sampler, "_update_fallback")) == NULL
        || (busy = PyObject_GetAttrString(sampler, "_busy")) == NULL
        || (load = PyObject_GetAttrString(sampler, "_load")) == NULL
        || (idle = PyObject_GetAttrString(sampler, "_idle")) == NULL
        || (hook = PyObject_GetAttrString(sampler, "_status_hook")) == NULL)
        goto fail;
    ctx.status_hook = hook == Py_None ? NULL : hook;
    if (!PyList_Check(busy) || !PyList_Check(load) || !PyList_Check(idle)) {
        PyErr_SetString(PyExc_TypeError, "the sampler's _busy, _load and _idle must be lists");
        goto fail;
    }
    ctx.has_prev_t = prev_t != Py_None;
    if (ctx.has_prev_t && (ctx.prev_t = PyFloat_AsDouble(prev_t), PyErr_Occurred()))
        goto fail;
    double t = ctx.t, dt = ctx.dt;
    double span = dt * 1e9;
    long long d_cpu_sum = 0, d_sw_sum = 0;
    if ((gone = PyList_New(0)) == NULL)
        goto fail;
    char buf[SCHEDSTAT_SIZE];

    /* First every schedstat read, back to back and without the GIL (as the
     * pread floor does them: the kernel's caches stay warm, and the UI thread
     * runs meanwhile); then the loop over their results. A thread whose fd
     * changed meanwhile, or whose read filled its slot, is read again there. */
    Py_ssize_t n_read = PyList_GET_SIZE(threads);
    slots = n_read > 0 ? PyMem_RawMalloc(n_read * sizeof(Slot)) : NULL;
    if (slots == NULL)
        n_read = 0; /* no memory for the batch: each thread is read in the loop */
    for (Py_ssize_t i = 0; i < n_read; i++) {
        if (i + PREFETCH < n_read)
            __builtin_prefetch(PyList_GET_ITEM(threads, i + PREFETCH));
        PyObject *th = PyList_GET_ITEM(threads, i);
        slots[i].th = th;
        slots[i].fd = -1;
        slots[i].len = -2;
        slots[i].status_fd = -1;
        slots[i].status_len = -2;
        slots[i].status = NULL;
        if (!Py_IS_TYPE(th, thread_type))
            continue; /* the loop raises */
        PyObject *v = *(PyObject **)((char *)th + offsets[F_FD]);
        if (v != NULL && PyLong_CheckExact(v)) {
            long fd = PyLong_AsLong(v);
            if (fd >= 0 && fd <= INT_MAX)
                slots[i].fd = (int)fd;
            else if (fd == -1 && PyErr_Occurred())
                PyErr_Clear(); /* the loop reads it again and raises */
        }
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n_read; i++) {
        if (slots[i].fd < 0)
            continue;
        ssize_t n;
        do {
            n = pread(slots[i].fd, slots[i].buf, SLOT_SIZE, 0);
        } while (n < 0 && errno == EINTR);
        slots[i].len = n < 0 ? -1 : (int)n;
    }
    Py_END_ALLOW_THREADS

    /* Then the status reads the loop is sure to make, back to back too. */
    Py_ssize_t n_status = 0;
    for (Py_ssize_t i = 0; i < n_read; i++)
        if (slots[i].len >= 0 && slots[i].len < SLOT_SIZE && Py_IS_TYPE(slots[i].th, thread_type)
            && wants_status(slots[i].th, &slots[i], t))
            n_status++;
    if (n_status > 0 && (status_block = PyMem_RawMalloc(n_status * STATUS_AHEAD)) != NULL) {
        char *next = status_block;
        for (Py_ssize_t i = 0; i < n_read; i++) {
            if (slots[i].status_fd < 0)
                continue;
            slots[i].status = next;
            next += STATUS_AHEAD;
            if (hook != Py_None) { /* announced as the loop announces its own reads */
                PyObject *h = PyObject_CallOneArg(hook, slots[i].th);
                if (h == NULL)
                    goto fail;
                Py_DECREF(h);
            }
        }
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < n_read; i++) {
            if (slots[i].status == NULL)
                continue;
            ssize_t n;
            do {
                n = pread(slots[i].status_fd, slots[i].status, STATUS_AHEAD, 0);
            } while (n < 0 && errno == EINTR);
            slots[i].status_len = n < 0 ? -1 : (int)n;
        }
        Py_END_ALLOW_THREADS
    } else {
        for (Py_ssize_t i = 0; i < n_read; i++)
            slots[i].status_fd = -1;
    }

    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(threads); i++) {
        if ((i & (GIL_EVERY - 1)) == GIL_EVERY - 1) {
            /* Let a thread that asked for the GIL have it, as the Python loop
             * would between bytecodes (every 5 ms): the UI stays responsive
             * through a long scan. Nothing borrowed is held here. */
            Py_BEGIN_ALLOW_THREADS
            Py_END_ALLOW_THREADS
        }
        if (i + PREFETCH < n_read) { /* its Thread object, all of its slots */
            char *ahead = (char *)PyList_GET_ITEM(threads, i + PREFETCH);
            for (int line = 0; line < 4; line++)
                __builtin_prefetch(ahead + 64 * line);
        }
        if (i + PREFETCH / 2 < n_read) { /* the objects the loop reads first */
            PyObject *ahead = PyList_GET_ITEM(threads, i + PREFETCH / 2);
            if (Py_IS_TYPE(ahead, thread_type)) {
                __builtin_prefetch(*(PyObject **)((char *)ahead + offsets[F_RAW]));
                __builtin_prefetch(*(PyObject **)((char *)ahead + offsets[F_UNTIL]));
                __builtin_prefetch(*(PyObject **)((char *)ahead + offsets[F_SAMPLE]));
                __builtin_prefetch(*(PyObject **)((char *)ahead + offsets[F_CPU]));
                __builtin_prefetch(*(PyObject **)((char *)ahead + offsets[F_SWITCHES]));
                __builtin_prefetch(*(PyObject **)((char *)ahead + offsets[F_DUE]));
                __builtin_prefetch(*(PyObject **)((char *)ahead + offsets[F_RUNQ]));
                __builtin_prefetch(*(PyObject **)((char *)ahead + offsets[F_NAME]));
                __builtin_prefetch(*(PyObject **)((char *)ahead + offsets[F_VOL]));
                __builtin_prefetch(*(PyObject **)((char *)ahead + offsets[F_INVOL]));
                __builtin_prefetch(*(PyObject **)((char *)ahead + offsets[F_VOL_RATE]));
                __builtin_prefetch(*(PyObject **)((char *)ahead + offsets[F_INVOL_RATE]));
            }
        }
        PyObject *th = PyList_GET_ITEM(threads, i);
        if (!Py_IS_TYPE(th, thread_type)) {
            PyErr_SetString(PyExc_TypeError, "not a Thread");
            goto fail;
        }
        ctx.cur = i < n_read && slots[i].th == th ? &slots[i] : NULL;
        Py_INCREF(th);
        PyObject *raw = NULL; /* new reference: this read, as bytes */
        PyObject *prev = NULL; /* new reference: the last read (th.raw may be replaced) */
        PyObject *v, *s = NULL;
        long fd;
        int same;

        if ((v = get(th, F_FD)) == NULL || ((fd = PyLong_AsLong(v)) == -1 && PyErr_Occurred()))
            goto fail_th;
        if ((prev = get(th, F_RAW)) == NULL)
            goto fail_th;
        Py_INCREF(prev);
        if (!PyBytes_Check(prev))
            goto fail_th_type;
        if (fd >= 0) {
            ssize_t n;
            const char *data = buf;
            Slot *sl = i < n_read && slots[i].th == th && slots[i].fd == fd ? &slots[i] : NULL;
            if (sl != NULL && sl->len >= 0 && sl->len < SLOT_SIZE) {
                n = sl->len;
                data = sl->buf;
            } else if (sl != NULL && sl->len == -1) {
                n = -1;
            } else {
                do {
                    n = pread((int)fd, buf, SCHEDSTAT_SIZE, 0);
                } while (n < 0 && errno == EINTR);
            }
            if (n < 0)
                goto gone_th;
            same = n == PyBytes_GET_SIZE(prev) && memcmp(data, PyBytes_AS_STRING(prev), n) == 0;
            if (!same && (raw = PyBytes_FromStringAndSize(data, n)) == NULL)
                goto fail_th;
        } else {
            PyObject *path = get(th, F_PATH);
            if (path == NULL)
                goto fail_th;
            raw = PyObject_CallOneArg(read_file, path);
            if (raw == NULL) {
                if (clear_if(gone_errors))
                    goto gone_th;
                goto fail_th;
            }
            if (!PyBytes_Check(raw))
                goto fail_th_type;
            same = PyBytes_GET_SIZE(raw) == PyBytes_GET_SIZE(prev)
                   && memcmp(PyBytes_AS_STRING(raw), PyBytes_AS_STRING(prev),
                             PyBytes_GET_SIZE(raw)) == 0;
        }
        if (same && raw == NULL)
            raw = Py_NewRef(prev); /* equal bytes: any later compare gives the same */

        int fast = truthy(th, F_FAST);
        if (fast < 0)
            goto fail_th;
        PyObject *phase = Py_None;

        if (same) { /* not on a CPU since the last sample */
            double until, due;
            if (as_double(th, F_UNTIL, &until) < 0)
                goto fail_th;
            if (t < until) {
                if ((v = get(th, F_SAMPLE)) == NULL || PyList_Append(idle, v) < 0)
                    goto fail_th;
                goto next;
            }
            if (fast) { /* an idle interval after a busy one, or a refresh due */
                if (as_double(th, F_DUE, &due) < 0)
                    goto fail_th;
                if (t >= due) {
                    if (do_refresh(&ctx, refresh, th, raw, prev) < 0) {
                        if (clear_if(refresh_errors))
                            goto gone_th;
                        goto fail_th;
                    }
                }
                if (phase_of(phases, th, &phase) < 0)
                    goto fail_th;
                PyObject *wa = dt > 0 ? one_f : zero_f, *gil = Py_None;
                if (phase != Py_None) {
                    int is_cpu = PyObject_RichCompareBool(phase, cpu_str, Py_EQ);
                    if (is_cpu < 0)
                        goto fail_th;
                    gil = is_cpu ? wa : zero_f;
                }
                PyObject *items[N_SAMPLE_FIELDS];
                static const int from_th[9] = {F_PID, F_TID, F_NAME, F_STATE, F_CPU,
                                               F_RUNQ, F_SWITCHES, F_VOL, F_INVOL};
                for (int k = 0; k < 9; k++) {
                    if ((v = get(th, from_th[k])) == NULL) {
                        for (int j = 0; j < k; j++)
                            Py_DECREF(items[j]);
                        goto fail_th;
                    }
                    items[k] = Py_NewRef(v);
                }
                PyObject *vr = get(th, F_VOL_RATE), *ir = get(th, F_INVOL_RATE);
                if (vr == NULL || ir == NULL) {
                    for (int j = 0; j < 9; j++)
                        Py_DECREF(items[j]);
                    goto fail_th;
                }
                items[9] = Py_NewRef(zero_f);
                items[10] = Py_NewRef(zero_f);
                items[11] = Py_NewRef(wa);
                items[12] = Py_NewRef(gil);
                items[13] = Py_NewRef(zero_f);
                items[14] = Py_NewRef(vr);
                items[15] = Py_NewRef(ir);
                items[16] = Py_NewRef(phase);
                items[17] = Py_NewRef(Py_False);
                if ((s = make_sample(items)) == NULL)
                    goto fail_th;
                put_borrowed(th, F_SAMPLE, s);
                /* Valid until a due refresh could change what it shows. */
                PyObject *stat_raw, *status_raw;
                double stat_due, status_due;
                if ((stat_raw = get(th, F_STAT_RAW)) == NULL
                    || (status_raw = get(th, F_STATUS_RAW)) == NULL
                    || as_double(th, F_STAT_DUE, &stat_due) < 0
                    || as_double(th, F_STATUS_DUE, &status_due) < 0)
                    goto fail_th;
                int eq = PyObject_RichCompareBool(raw, stat_raw, Py_EQ);
                if (eq < 0)
                    goto fail_th;
                PyObject *until_o = eq ? always_f : get(th, F_STAT_DUE);
                double until_d = eq ? PyFloat_AS_DOUBLE(always_f) : stat_due;
                int ne = PyObject_RichCompareBool(raw, status_raw, Py_NE);
                if (ne < 0)
                    goto fail_th;
                if (!ne) {
                    if ((ne = truthy(th, F_VOL_RATE)) < 0)
                        goto fail_th;
                    if (!ne && (ne = truthy(th, F_INVOL_RATE)) < 0)
                        goto fail_th;
                }
                if (ne && status_due < until_d)
                    until_o = get(th, F_STATUS_DUE);
                put_borrowed(th, F_UNTIL, until_o);
                if (PyList_Append(idle, s) < 0)
                    goto fail_th;
                goto next;
            }
        } else if (fast) {
            long long st[3];
            if (parse3(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw), st) < 0) {
                PyObject *p = PyObject_CallOneArg(py_parse3, raw);
                if (p == NULL)
                    goto fail_th;
                if (p == Py_None) {
                    Py_DECREF(p);
                    goto gone_th;
                }
                int ok = PyTuple_Check(p) && PyTuple_GET_SIZE(p) == 3
                         && as_ll(PyTuple_GET_ITEM(p, 0), &st[0]) == 0
                         && as_ll(PyTuple_GET_ITEM(p, 1), &st[1]) == 0
                         && as_ll(PyTuple_GET_ITEM(p, 2), &st[2]) == 0;
                Py_DECREF(p);
                if (!ok) {
                    if (!PyErr_Occurred())
                        PyErr_SetString(PyExc_TypeError, "parse3: not three ints");
                    goto fail_th;
                }
            }
            long long cpu = st[0], runq = st[1], slices = st[2], old_cpu, old_sw, old_runq = 0;
            if ((v = get(th, F_CPU)) == NULL || as_ll(v, &old_cpu) < 0)
                goto fail_th;
            if ((v = get(th, F_SWITCHES)) == NULL || as_ll(v, &old_sw) < 0)
                goto fail_th;
            long long d_cpu = cpu - old_cpu, d_sw = slices - old_sw;
            if (d_cpu < 0 || d_sw < 0) /* only when read by path */
                goto gone_th; /* counters went back: the tid was reused */
            if ((v = get(th, F_RUNQ)) == NULL || (v != Py_None && as_ll(v, &old_runq) < 0))
                goto fail_th;
            long long d_runq = runq - old_runq;
            PyObject *cpu_o = PyLong_FromLongLong(cpu);
            PyObject *runq_o = PyLong_FromLongLong(runq);
            PyObject *sw_o = PyLong_FromLongLong(slices);
            if (cpu_o == NULL || runq_o == NULL || sw_o == NULL) {
                Py_XDECREF(cpu_o);
                Py_XDECREF(runq_o);
                Py_XDECREF(sw_o);
                goto fail_th;
            }
            put_borrowed(th, F_RAW, raw);
            put_borrowed(th, F_CPU, cpu_o);
            put_borrowed(th, F_RUNQ, runq_o);
            put_borrowed(th, F_SWITCHES, sw_o);
            put_borrowed(th, F_UNTIL, never_f);
            double due;
            if (as_double(th, F_DUE, &due) < 0)
                goto fail_nums;
            if (t >= due) {
                if (do_refresh(&ctx, refresh, th, raw, prev) < 0) {
                    Py_DECREF(cpu_o);
                    Py_DECREF(runq_o);
                    Py_DECREF(sw_o);
                    if (clear_if(refresh_errors))
                        goto gone_th;
                    goto fail_th;
                }
            }
            double ex, ru, wa, sps;
            if (dt > 0) {
                ex = d_cpu < span ? (double)d_cpu / span : 1.0;
                ru = d_runq > 0 ? (d_runq < span ? (double)d_runq / span : 1.0) : 0.0;
                wa = 1.0 - ex - ru;
                if (wa <= 0.0)
                    wa = 0.0;
                sps = (double)d_sw / dt;
            } else {
                ex = ru = wa = sps = 0.0;
            }
            if (phase_of(phases, th, &phase) < 0)
                goto fail_nums;
            PyObject *ex_o = new_float(ex), *ru_o = new_float(ru), *wa_o = new_float(wa);
            PyObject *gil = NULL;
            if (phase == Py_None) {
                gil = Py_NewRef(Py_None);
            } else {
                int is_cpu = PyObject_RichCompareBool(phase, cpu_str, Py_EQ);
                if (is_cpu < 0) {
                    Py_XDECREF(ex_o);
                    Py_XDECREF(ru_o);
                    Py_XDECREF(wa_o);
                    goto fail_nums;
                }
                gil = (is_cpu && wa > 0.5) ? Py_XNewRef(wa_o) : Py_NewRef(zero_f);
            }
            PyObject *items[N_SAMPLE_FIELDS];
            static const int head[4] = {F_PID, F_TID, F_NAME, F_STATE};
            static const int tail[4] = {F_VOL, F_INVOL, F_VOL_RATE, F_INVOL_RATE};
            PyObject *hv[4], *tv[4];
            int missing = 0;
            for (int k = 0; k < 4; k++) {
                hv[k] = get(th, head[k]);
                tv[k] = get(th, tail[k]);
                missing |= hv[k] == NULL || tv[k] == NULL;
            }
            if (missing) {
                Py_XDECREF(ex_o);
                Py_XDECREF(ru_o);
                Py_XDECREF(wa_o);
                Py_XDECREF(gil);
                goto fail_nums;
            }
            for (int k = 0; k < 4; k++)
                items[k] = Py_NewRef(hv[k]);
            items[4] = cpu_o; /* the references taken above pass to the sample */
            items[5] = runq_o;
            items[6] = sw_o;
            items[7] = Py_NewRef(tv[0]);
            items[8] = Py_NewRef(tv[1]);
            items[9] = ex_o;
            items[10] = ru_o;
            items[11] = wa_o;
            items[12] = gil;
            items[13] = PyFloat_FromDouble(sps);
            items[14] = Py_NewRef(tv[2]);
            items[15] = Py_NewRef(tv[3]);
            items[16] = Py_NewRef(phase);
            items[17] = Py_NewRef(Py_False);
            if ((s = make_sample(items)) == NULL)
                goto fail_th;
            put_borrowed(th, F_SAMPLE, s);
            d_cpu_sum += d_cpu;
            d_sw_sum += d_sw;
            sps_sum += sps;
            PyObject *neg = NULL;
            if ((ex != 0.0 || ru != 0.0) && (neg = PyFloat_FromDouble(-(ex + ru))) == NULL)
                goto fail_th;
            if (file_sample(busy, load, idle, s, neg) < 0)
                goto fail_th;
            goto next;
        fail_nums:
            Py_DECREF(cpu_o);
            Py_DECREF(runq_o);
            Py_DECREF(sw_o);
            goto fail_th;
        }
        /* Fallback threads (no schedstat), or converting to fallback. */
        if (phase_of(phases, th, &phase) < 0)
            goto fail_th;
        {
            PyObject *r = PyObject_CallFunctionObjArgs(update_fallback, th, raw, phase, NULL);
            if (r == NULL) {
                if (clear_if(refresh_errors))
                    goto gone_th;
                goto fail_th;
            }
            long long d_cpu, d_sw;
            if (!PyTuple_Check(r) || PyTuple_GET_SIZE(r) != 3
                || !PyTuple_Check(PyTuple_GET_ITEM(r, 0))
                || PyTuple_GET_SIZE(PyTuple_GET_ITEM(r, 0)) != N_SAMPLE_FIELDS
                || as_ll(PyTuple_GET_ITEM(r, 1), &d_cpu) < 0
                || as_ll(PyTuple_GET_ITEM(r, 2), &d_sw) < 0) {
                Py_DECREF(r);
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_TypeError, "update_fallback: bad result");
                goto fail_th;
            }
            s = Py_NewRef(PyTuple_GET_ITEM(r, 0));
            Py_DECREF(r);
            d_cpu_sum += d_cpu;
            d_sw_sum += d_sw;
            double x = PyFloat_AsDouble(PyTuple_GET_ITEM(s, S_SWITCHES_PER_S));
            if (x == -1.0 && PyErr_Occurred())
                goto fail_th;
            sps_sum += x;
            PyObject *exo = PyTuple_GET_ITEM(s, S_EXECUTING);
            int busy_th = PyObject_IsTrue(exo);
            if (busy_th < 0)
                goto fail_th;
            PyObject *neg = NULL;
            if (busy_th && (neg = PyNumber_Negative(exo)) == NULL)
                goto fail_th;
            if (file_sample(busy, load, idle, s, neg) < 0)
                goto fail_th;
        }
        goto next;

    gone_th:
        if (PyList_Append(gone, th) < 0)
            goto fail_th;
    next:
        Py_XDECREF(s);
        Py_XDECREF(raw);
        Py_XDECREF(prev);
        Py_DECREF(th);
        continue;
    fail_th_type:
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "unexpected type in a Thread field");
    fail_th:
        Py_XDECREF(s);
        Py_XDECREF(raw);
        Py_XDECREF(prev);
        Py_DECREF(th);
        goto fail;
    }
    PyObject *result = Py_BuildValue("(OLLd)", gone, d_cpu_sum, d_sw_sum, sps_sum);
    Py_XDECREF(gone);
    Py_DECREF(ctx.t_obj);
    Py_DECREF(prev_t);
    Py_DECREF(refresh);
    Py_DECREF(update_fallback);
    Py_DECREF(busy);
    Py_DECREF(load);
    Py_DECREF(idle);
    Py_DECREF(hook);
    PyMem_RawFree(ctx.status_buf);
    PyMem_RawFree(slots);
    PyMem_RawFree(status_block);
    return result;
fail:
    Py_XDECREF(gone);
    Py_XDECREF(ctx.t_obj);
    Py_XDECREF(prev_t);
    Py_XDECREF(refresh);
    Py_XDECREF(update_fallback);
    Py_XDECREF(busy);
    Py_XDECREF(load);
    Py_XDECREF(idle);
    Py_XDECREF(hook);
    PyMem_RawFree(ctx.status_buf);
    PyMem_RawFree(slots);
    PyMem_RawFree(status_block);
    return NULL;
}

/* parse_stat(raw) -> procfs.Stat: procfs.parse_stat for the plain case (the
 * sampler's per-process read, each sample), and procfs.parse_stat itself for
 * anything else (odd text, a malformed line: it raises what it raises). */
static PyObject *
parse_stat_c(PyObject *self, PyObject *raw)
{
    if (stat_type == NULL)
        return PyErr_Format(PyExc_RuntimeError, "bind() first");
    if (!PyBytes_Check(raw))
        return PyObject_CallOneArg(stat_fallback, raw);
    const char *p = PyBytes_AS_STRING(raw), *end = p + PyBytes_GET_SIZE(raw);
    const char *lpar = memchr(p, '(', end - p), *rpar = NULL;
    for (const char *q = end - 1; q >= p; q--)
        if (*q == ')') {
            rpar = q;
            break;
        }
    if (lpar == NULL || rpar == NULL || rpar < lpar || rpar + 2 > end)
        return PyObject_CallOneArg(stat_fallback, raw);
    /* fields after "name) ": f[0] state, f[1] ppid, f[11] utime, f[12] stime,
     * f[17] num_threads, f[19] start_time */
    static const int wanted[6] = {0, 1, 11, 12, 17, 19};
    const char *tok[6] = {0};
    Py_ssize_t toklen[6] = {0};
    const char *q = rpar + 2;
    for (int f = 0, w = 0; w < 6; f++) {
        while (q < end && is_space(*q))
            q++;
        if (q == end)
            return PyObject_CallOneArg(stat_fallback, raw); /* too few fields */
        const char *t = q;
        while (q < end && !is_space(*q))
            q++;
        if (f == wanted[w]) {
            tok[w] = t;
            toklen[w] = q - t;
            w++;
        }
    }
    long long v[5];
    for (int k = 1; k < 6; k++) {
        const char *t = tok[k];
        if (digits(&t, tok[k] + toklen[k], &v[k - 1]) < 0)
            return PyObject_CallOneArg(stat_fallback, raw);
    }
    if (toklen[0] != 1 || (unsigned char)tok[0][0] >= 0x80)
        return PyObject_CallOneArg(stat_fallback, raw);
    PyObject *items[7];
    items[0] = PyUnicode_DecodeUTF8(lpar + 1, rpar - lpar - 1, "replace");
    items[1] = PyUnicode_FromOrdinal((unsigned char)tok[0][0]);
    for (int k = 0; k < 5; k++)
        items[2 + k] = PyLong_FromLongLong(v[k]);
    PyObject *st = stat_type->tp_alloc(stat_type, 7);
    for (int k = 0; k < 7; k++) {
        if (st == NULL || items[k] == NULL) {
            for (int j = 0; j < 7; j++)
                Py_XDECREF(items[j]);
            Py_XDECREF(st);
            return NULL;
        }
    }
    for (int k = 0; k < 7; k++)
        PyTuple_SET_ITEM(st, k, items[k]);
    return st;
}

typedef struct {
    double load;
    long long tie; /* the tid, or the position */
    PyObject *sample;
} Ranked;

static int
by_load_then_tie(const void *a, const void *b)
{
    const Ranked *x = a, *y = b;
    if (x->load != y->load)
        return x->load < y->load ? -1 : 1;
    return (x->tie > y->tie) - (x->tie < y->tie);
}

/* busiest(busy, load, by_tid) -> list: the samples of `busy` in the order of
 * `load` (ascending: loads are negated), ties by tid (`by_tid`) or by their
 * place in `busy`: the order of the sampler's two stable sorts. None if a
 * load is NaN (then there is no such order; the sampler sorts in Python). */
static PyObject *
busiest(PyObject *self, PyObject *args)
{
    PyObject *busy, *load;
    int by_tid;
    if (!PyArg_ParseTuple(args, "O!O!p", &PyList_Type, &busy, &PyList_Type, &load, &by_tid))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(busy);
    if (PyList_GET_SIZE(load) != n)
        return PyErr_Format(PyExc_ValueError, "busy and load differ in length");
    Ranked *r = PyMem_Malloc((n > 0 ? n : 1) * sizeof(Ranked));
    if (r == NULL)
        return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *s = PyList_GET_ITEM(busy, i);
        r[i].sample = s;
        r[i].load = PyFloat_AsDouble(PyList_GET_ITEM(load, i));
        if (r[i].load == -1.0 && PyErr_Occurred())
            goto fail;
        if (isnan(r[i].load)) { /* no total order: Python's sort decides */
            PyMem_Free(r);
            Py_RETURN_NONE;
        }
        r[i].tie = i;
        if (by_tid) {
            if (!PyTuple_Check(s) || PyTuple_GET_SIZE(s) < 2) {
                PyErr_SetString(PyExc_TypeError, "not a ThreadSample");
                goto fail;
            }
            if ((r[i].tie = PyLong_AsLongLong(PyTuple_GET_ITEM(s, 1))) == -1 && PyErr_Occurred())
                goto fail;
        }
    }
    qsort(r, n, sizeof(Ranked), by_load_then_tie);
    PyObject *out = PyList_New(n);
    if (out != NULL)
        for (Py_ssize_t i = 0; i < n; i++)
            PyList_SET_ITEM(out, i, Py_NewRef(r[i].sample));
    PyMem_Free(r);
    return out;
fail:
    PyMem_Free(r);
    return NULL;
}

static PyMethodDef methods[] = {
    {"busiest", busiest, METH_VARARGS, "The busy samples, busiest first (see sampler.sample)."},
    {"parse_stat", parse_stat_c, METH_O, "procfs.parse_stat, the plain case in C."},
    {"bind", bind, METH_VARARGS, "bind(Thread, ThreadSample, Stat, parse_stat, NEVER, ALWAYS)."},
    {"scan", scan, METH_VARARGS, "The hot loop of ProcSampler._scan_threads."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_hotloop",
    "The sampler's hot loop in C (optional; see workloads/sampler.py).", -1, methods,
};

PyMODINIT_FUNC
PyInit__hotloop(void)
{
    zero_f = PyFloat_FromDouble(0.0);
    one_f = PyFloat_FromDouble(1.0);
    cpu_str = PyUnicode_InternFromString("cpu");
    vol_sum_attr = PyUnicode_InternFromString("_vol_sum");
    invol_sum_attr = PyUnicode_InternFromString("_invol_sum");
    if (zero_f == NULL || one_f == NULL || cpu_str == NULL || vol_sum_attr == NULL
        || invol_sum_attr == NULL)
        return NULL;
    return PyModule_Create(&module);
}
