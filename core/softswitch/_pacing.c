/* softswitch._pacing: the kernel's timer-pacing hot path in C (optional: softswitch.pacing
 * runs its Python twin, the reference, where this is not built, where what it depends on is not
 * what it expects, or with SOFTSWITCH_PURE_PYTHON=1).
 *
 * Two things, each the C twin of Python code in softswitch/pacing.py that it must match exactly:
 *
 *   State.bind(timer) -> a Pacer, the callable that timer.next becomes (a timer module's
 *       bind_next): the woken-by-a-tick case (check, park, switch, return SUCCESS/GENERR);
 *       every other case calls the timer module's Python next(timer).
 *   State.deliver(clock): the bookkeeping of a tick (every waiting timer consumes it, its
 *       greenlet is queued on ready).
 *
 * ``ready`` is a list used as a stack: the greenlets of a tick are queued in reverse arrival
 * order, so that the next one to resume is its last item (a pop without a Python call).
 *
 * Why C: called from the user's loop, a Pacer adds no Python frame between that loop and the
 * greenlet switch (so greenlet does not materialise a new frame object per switch) and runs
 * its checks without the interpreter; the per-timer cost of a tick drops to about that of
 * resuming a bare greenlet (bench/timers.py's floor).
 *
 * What it depends on, checked before use (softswitch.pacing falls back to Python otherwise):
 *  - the objects' layouts: the slots of the Timer, private and clock classes are read and
 *    written at the offsets their member descriptors give (public CPython API), checked when a
 *    State is made: a missing or non-object slot is a TypeError there, which softswitch.pacing
 *    turns into the Python path;
 *  - greenlet's C API (the capsule greenlet._C_API, looked up at import: no build-time
 *    dependency on greenlet's headers), used only when its table is what greenlet.h describes:
 *    entry 0 is the greenlet type, entry 2 GreenletExit, and entry 4 (GetCurrent) returns
 *    what greenlet.getcurrent() does. Else greenlets are switched through greenlet.switch and
 *    getcurrent (``c_api`` False), still in C. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <time.h>
#include <stdint.h>
#include <limits.h>
#include <string.h>

typedef struct {
    PyObject_HEAD
    PyObject *ready;          /* list: the greenlets of the tick, the next one to resume last */
    PyObject *hub_switch;     /* the hub's switch */
    PyObject *raw_switch;     /* greenlet.greenlet.switch */
    PyObject *getcurrent;     /* greenlet.getcurrent */
    PyObject *slow_next;      /* engine.next(timer) */
    PyObject *on_error;       /* on_error(timer, p, g, exc): cleans up; raises, or None */
    PyObject *deliver_one;    /* deliver_one(p, k, waiting): the Python bookkeeping of one */
    PyObject *success, *generr;
    PyTypeObject *timer_type, *private_type, *clock_type;
    int stopping;
    /* greenlet's C API (PyGreenlet_Switch, PyGreenlet_GetCurrent), or NULL */
    PyObject *(*gl_switch)(PyObject *g, PyObject *args, PyObject *kwargs);
    PyObject *(*gl_getcurrent)(void);
    char c_api;  /* both usable (the member c_api) */
    Py_ssize_t t_private, t_tick, t_samplecount, t_samples, t_skipped;
    Py_ssize_t p_clock, p_last, p_waiter, p_closed, p_timer;
    Py_ssize_t c_tick, c_deadline, c_waiters;
} StateObject;

typedef struct {
    PyObject_HEAD
    StateObject *state;
    PyObject *timer;
    vectorcallfunc vectorcall;
} PacerObject;

#define SLOT(obj, off) (*(PyObject **)((char *)(obj) + (off)))

static inline void
slot_set(PyObject *obj, Py_ssize_t off, PyObject *v)  /* steals v */
{
    PyObject *old = SLOT(obj, off);
    SLOT(obj, off) = v;
    Py_XDECREF(old);
}

static int
member_offset(PyObject *cls, const char *name, Py_ssize_t *off)
{
    PyObject *d = PyObject_GetAttrString(cls, name);
    if (d == NULL)
        return -1;
    if (!Py_IS_TYPE(d, &PyMemberDescr_Type)) {
        PyErr_Format(PyExc_TypeError, "%s is not a slot", name);
        Py_DECREF(d);
        return -1;
    }
    PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
    if (m->type != T_OBJECT_EX) {
        PyErr_Format(PyExc_TypeError, "%s is not an object slot", name);
        Py_DECREF(d);
        return -1;
    }
    *off = m->offset;
    Py_DECREF(d);
    return 0;
}

static int64_t
mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ------------------------------------------------------------------------------------ */

/* greenlet's C API, when check_greenlet_api() found it to be what greenlet.h describes */
static PyObject *(*gl_checked_getcurrent)(void) = NULL;
static PyObject *(*gl_checked_switch)(PyObject *, PyObject *, PyObject *) = NULL;
static const char *gl_api_status = "not checked";

/* greenlet.h: PyGreenlet_Type 0, PyExc_GreenletExit 2, PyGreenlet_GetCurrent 4,
 * PyGreenlet_Switch 6 (unchanged since greenlet 0.4). Verify what can be verified from
 * Python before trusting the table; any mismatch leaves the pointers NULL. */
static void
check_greenlet_api(void)
{
    void **api = (void **)PyCapsule_Import("greenlet._C_API", 0);
    if (api == NULL) {
        PyErr_Clear();
        gl_api_status = "greenlet._C_API capsule not found";
        return;
    }
    PyObject *mod = PyImport_ImportModule("greenlet");
    if (mod == NULL) {
        PyErr_Clear();
        gl_api_status = "greenlet cannot be imported";
        return;
    }
    PyObject *type = PyObject_GetAttrString(mod, "greenlet");
    PyObject *exit_ = PyObject_GetAttrString(mod, "GreenletExit");
    PyObject *cur = PyObject_CallMethod(mod, "getcurrent", NULL);
    PyObject *ccur = NULL;
    if (type == NULL || exit_ == NULL || cur == NULL) {
        PyErr_Clear();
        gl_api_status = "greenlet lacks greenlet/GreenletExit/getcurrent";
    }
    else if (api[0] != (void *)type || api[2] != (void *)exit_) {
        gl_api_status = "greenlet._C_API table is not laid out as greenlet.h 0.4-3.x says";
    }
    else if ((ccur = ((PyObject *(*)(void))api[4])()) != cur) {
        PyErr_Clear();
        gl_api_status = "greenlet._C_API GetCurrent does not return greenlet.getcurrent()";
    }
    else {
        gl_checked_getcurrent = (PyObject *(*)(void))api[4];
        gl_checked_switch = (PyObject *(*)(PyObject *, PyObject *, PyObject *))api[6];
        gl_api_status = "ok";
    }
    Py_XDECREF(ccur);
    Py_XDECREF(cur);
    Py_XDECREF(exit_);
    Py_XDECREF(type);
    Py_DECREF(mod);
}

static PyObject *
pacer_slow(StateObject *st, PyObject *timer)
{
    PyObject *r = PyObject_CallOneArg(st->slow_next, timer);
    if (r == NULL)
        return NULL;
    PyObject *out = (r == Py_None) ? st->success : st->generr;
    Py_DECREF(r);
    return Py_NewRef(out);
}

/* An exception took the greenlet out of its wait (the switch returned NULL): on_error cleans
 * up. Out of line, so that pacer_park's frame (copied by greenlet at every switch) stays small. */
static Py_NO_INLINE PyObject *
pacer_switch_failed(StateObject *st, PyObject *timer, PyObject *p, PyObject *g)
{
    PyObject *type, *value, *tb, *r = NULL;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value != NULL) {
        if (tb != NULL)
            PyException_SetTraceback(value, tb);
        PyObject *args4[4] = {timer, p, g, value};
        r = PyObject_Vectorcall(st->on_error, args4, 4, NULL);
    }
    Py_DECREF(timer);
    Py_DECREF(p);
    Py_DECREF(g);
    if (value != NULL && r == NULL) {  /* it raised the exception to raise instead */
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        return NULL;
    }
    Py_XDECREF(r);
    PyErr_Restore(type, value, tb);  /* the original exception, traceback and all */
    return NULL;
}

/* The park-and-switch half of pacer_vectorcall (which tail-calls it): every check passed. */
static Py_NO_INLINE PyObject *
pacer_park(StateObject *st, PyObject *timer, PyObject *p, PyObject *waiters)
{
    PyObject *g = st->gl_getcurrent ? st->gl_getcurrent() : PyObject_CallNoArgs(st->getcurrent);
    if (g == NULL)
        return NULL;
    Py_INCREF(timer);  /* all three stay alive while this greenlet is switched out */
    Py_INCREF(p);
    slot_set(p, st->p_waiter, Py_NewRef(g));
    if (PyList_Append(waiters, p) < 0) {
        slot_set(p, st->p_waiter, Py_NewRef(Py_None));
        Py_DECREF(timer);
        Py_DECREF(p);
        Py_DECREF(g);
        return NULL;
    }
    PyObject *why;
    Py_ssize_t nready = PyList_GET_SIZE(st->ready);
    if (nready) {
        /* pop the last item: its reference is now ours */
        PyObject *next = PyList_GET_ITEM(st->ready, nready - 1);
        Py_SET_SIZE(st->ready, nready - 1);
        why = st->gl_switch ? st->gl_switch(next, NULL, NULL)
                            : PyObject_CallOneArg(st->raw_switch, next);
        Py_DECREF(next);
    }
    else {
        why = PyObject_CallNoArgs(st->hub_switch);
    }
    if (why == NULL)
        return pacer_switch_failed(st, timer, p, g);
    Py_DECREF(timer);
    Py_DECREF(p);
    Py_DECREF(g);
    /* a tick's delivery switches with no arguments: () */
    int truth = PyTuple_CheckExact(why) ? PyTuple_GET_SIZE(why) != 0 : PyObject_IsTrue(why);
    Py_DECREF(why);
    if (truth < 0)
        return NULL;
    return Py_NewRef(truth ? st->generr : st->success);
}

static PyObject *
pacer_vectorcall(PyObject *self_, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    PacerObject *self = (PacerObject *)self_;
    StateObject *st = self->state;
    PyObject *timer = self->timer;
    if (PyVectorcall_NARGS(nargsf) != 0 || (kwnames && PyTuple_GET_SIZE(kwnames))) {
        PyErr_SetString(PyExc_TypeError, "next() takes no arguments");
        return NULL;
    }
    PyObject *p = SLOT(timer, st->t_private);
    if (p == NULL || Py_TYPE(p) != st->private_type)
        return pacer_slow(st, timer);
    PyObject *clock = SLOT(p, st->p_clock);
    if (clock == NULL || Py_TYPE(clock) != st->clock_type)
        return pacer_slow(st, timer);
    PyObject *last = SLOT(p, st->p_last), *tick = SLOT(clock, st->c_tick);
    if (last == NULL || tick == NULL)
        return pacer_slow(st, timer);
    if (last != tick) {
        int eq = PyObject_RichCompareBool(last, tick, Py_EQ);
        if (eq < 0)
            return NULL;
        if (!eq)
            return pacer_slow(st, timer);
    }
    if (SLOT(p, st->p_waiter) != Py_None || SLOT(p, st->p_closed) != Py_False || st->stopping)
        return pacer_slow(st, timer);
    Py_ssize_t nready = PyList_GET_SIZE(st->ready);
    if (nready == 0) {
        PyObject *dl = SLOT(clock, st->c_deadline);
        if (dl == NULL || !PyLong_CheckExact(dl))
            return pacer_slow(st, timer);
        int overflow;
        long long deadline = PyLong_AsLongLongAndOverflow(dl, &overflow);
        if (overflow || (deadline == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return pacer_slow(st, timer);
        }
        if (mono_ns() >= deadline)
            return pacer_slow(st, timer);
    }
    PyObject *waiters = SLOT(clock, st->c_waiters);
    if (waiters == NULL || !PyList_CheckExact(waiters))
        return pacer_slow(st, timer);
    return pacer_park(st, timer, p, waiters);  /* a tail call: no frame of ours stays below */
}

static PyObject *
pacer_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    return PyVectorcall_Call(self, args, kwargs);
}

static int
pacer_traverse(PacerObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->state);
    Py_VISIT(self->timer);
    return 0;
}

static int
pacer_clear(PacerObject *self)
{
    Py_CLEAR(self->state);
    Py_CLEAR(self->timer);
    return 0;
}

static void
pacer_dealloc(PacerObject *self)
{
    PyObject_GC_UnTrack(self);
    pacer_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject Pacer_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "softswitch._pacing.Pacer",
    .tp_basicsize = sizeof(PacerObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(PacerObject, vectorcall),
    .tp_call = pacer_call,
    .tp_traverse = (traverseproc)pacer_traverse,
    .tp_clear = (inquiry)pacer_clear,
    .tp_dealloc = (destructor)pacer_dealloc,
    .tp_doc = "timer.next of a soft timer (the C fast path)",
};

/* ------------------------------------------------------------------------------------ */

static PyObject *
state_bind(StateObject *st, PyObject *timer)
{
    if (!PyObject_TypeCheck(timer, st->timer_type)) {  /* its slots are read by offset */
        PyErr_SetString(PyExc_TypeError, "bind() needs a Timer");
        return NULL;
    }
    PacerObject *self = PyObject_GC_New(PacerObject, &Pacer_Type);
    if (self == NULL)
        return NULL;
    self->state = (StateObject *)Py_NewRef(st);
    self->timer = Py_NewRef(timer);
    self->vectorcall = pacer_vectorcall;
    PyObject_GC_Track(self);
    return (PyObject *)self;
}

/* One waiter of deliver(): 1 done, 0 not plain machine ints (or not our objects: the Python
 * code decides), -1 error. */
static int
deliver_fast(StateObject *st, PyObject *p, PyObject *k, long long kk, PyObject *waiting,
             PyObject *batch)
{
    PyObject *timer, *last_o, *tick_o, *samples_o, *skipped_o, *g;
    if (Py_TYPE(p) != st->private_type
        || (timer = SLOT(p, st->p_timer)) == NULL
        || (last_o = SLOT(p, st->p_last)) == NULL || !PyLong_CheckExact(last_o)
        || (tick_o = SLOT(timer, st->t_tick)) == NULL || !PyLong_CheckExact(tick_o)
        || (samples_o = SLOT(timer, st->t_samples)) == NULL || !PyLong_CheckExact(samples_o)
        || (skipped_o = SLOT(timer, st->t_skipped)) == NULL || !PyLong_CheckExact(skipped_o)
        || (g = SLOT(p, st->p_waiter)) == NULL)
        return 0;
    int o1, o2, o3;
    long long last = PyLong_AsLongLongAndOverflow(last_o, &o1);
    long long tick = PyLong_AsLongLongAndOverflow(tick_o, &o2);
    long long samples = PyLong_AsLongLongAndOverflow(samples_o, &o3);
    if (o1 || o2 || o3 || PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    long long n = kk - last;
    if (n <= 0)  /* it consumed this tick ahead of the clock loop: keep waiting */
        return PyList_Append(waiting, p) < 0 ? -1 : 1;
    if (tick > LLONG_MAX - n)
        return 0;
    tick += n;
    PyObject *vtick = PyLong_FromLongLong(tick);
    PyObject *vsc = PyLong_FromUnsignedLongLong(  /* (tick * samples) & 0xFFFFFFFF */
        ((unsigned long long)tick * (unsigned long long)samples) & 0xFFFFFFFFull);
    PyObject *vsk = NULL;
    if (n > 1) {
        PyObject *extra = PyLong_FromLongLong(n - 1);
        vsk = extra ? PyNumber_Add(skipped_o, extra) : NULL;
        Py_XDECREF(extra);
    }
    if (vtick == NULL || vsc == NULL || (n > 1 && vsk == NULL) || PyList_Append(batch, g) < 0) {
        Py_XDECREF(vtick);
        Py_XDECREF(vsc);
        Py_XDECREF(vsk);
        return -1;
    }
    slot_set(p, st->p_last, Py_NewRef(k));
    slot_set(timer, st->t_tick, vtick);
    if (vsk != NULL)
        slot_set(timer, st->t_skipped, vsk);
    slot_set(timer, st->t_samplecount, vsc);
    slot_set(p, st->p_waiter, Py_NewRef(Py_None));
    return 1;
}

static PyObject *
state_deliver(StateObject *st, PyObject *clock)
{
    if (Py_TYPE(clock) != st->clock_type) {
        PyErr_SetString(PyExc_TypeError, "deliver() needs a Clock");
        return NULL;
    }
    PyObject *waiters = SLOT(clock, st->c_waiters);
    PyObject *k = SLOT(clock, st->c_tick);
    if (waiters == NULL || !PyList_CheckExact(waiters) || k == NULL || !PyLong_CheckExact(k)) {
        PyErr_SetString(PyExc_TypeError, "clock.waiters must be a list, clock.tick an int");
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(waiters);
    if (count == 0)
        Py_RETURN_NONE;
    long long kk = PyLong_AsLongLong(k);
    if (kk == -1 && PyErr_Occurred())
        return NULL;
    PyObject *waiting = PyList_New(0);
    if (waiting == NULL)
        return NULL;
    PyObject *batch = PyList_New(0);  /* the greenlets to resume, in arrival order */
    if (batch == NULL) {
        Py_DECREF(waiting);
        return NULL;
    }
    Py_INCREF(waiters);
    Py_INCREF(k);
    slot_set(clock, st->c_waiters, waiting);  /* the clock owns the new list */
    PyObject *result = Py_None;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *p = PyList_GET_ITEM(waiters, i);
        int done = deliver_fast(st, p, k, kk, waiting, batch);
        if (done == 0) {
            PyObject *args4[4] = {p, k, waiting, batch};
            PyObject *r = PyObject_Vectorcall(st->deliver_one, args4, 4, NULL);
            done = r == NULL ? -1 : 1;
            Py_XDECREF(r);
        }
        if (done < 0) {
            result = NULL;
            break;
        }
    }
    /* Queue them under whatever is on ready (nothing, unless a delivery runs inside another):
     * reversed, so that the first to arrive is popped first. Even after an error: the timers
     * done so far consumed the tick, their greenlets must be resumed. */
    if (PyList_GET_SIZE(batch) && (PyList_Reverse(batch) < 0
                                   || PyList_SetSlice(st->ready, 0, 0, batch) < 0))
        result = NULL;
    Py_DECREF(batch);
    Py_DECREF(k);
    Py_DECREF(waiters);
    return Py_XNewRef(result);
}

static PyObject *
state_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"ready", "hub_switch", "raw_switch", "getcurrent", "slow_next",
                             "on_error", "deliver_one", "success", "generr", "timer_cls",
                             "private_cls", "clock_cls", NULL};
    PyObject *ready, *hub_switch, *raw_switch, *getcurrent, *slow_next, *on_error, *deliver_one,
        *success, *generr, *timer_cls, *private_cls, *clock_cls;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "$OOOOOOOOOOOO", kwlist, &ready, &hub_switch,
                                     &raw_switch, &getcurrent, &slow_next, &on_error,
                                     &deliver_one, &success, &generr, &timer_cls, &private_cls,
                                     &clock_cls))
        return NULL;
    if (!PyType_Check(timer_cls) || !PyType_Check(private_cls) || !PyType_Check(clock_cls)) {
        PyErr_SetString(PyExc_TypeError, "timer_cls, private_cls and clock_cls must be classes");
        return NULL;
    }
    if (!PyList_CheckExact(ready)) {  /* read and popped in place */
        PyErr_SetString(PyExc_TypeError, "ready must be a list");
        return NULL;
    }
    StateObject *st = (StateObject *)type->tp_alloc(type, 0);
    if (st == NULL)
        return NULL;
    st->ready = Py_NewRef(ready);
    st->hub_switch = Py_NewRef(hub_switch);
    st->raw_switch = Py_NewRef(raw_switch);
    st->getcurrent = Py_NewRef(getcurrent);
    st->slow_next = Py_NewRef(slow_next);
    st->on_error = Py_NewRef(on_error);
    st->deliver_one = Py_NewRef(deliver_one);
    st->success = Py_NewRef(success);
    st->generr = Py_NewRef(generr);
    st->timer_type = (PyTypeObject *)Py_NewRef(timer_cls);
    st->private_type = (PyTypeObject *)Py_NewRef(private_cls);
    st->clock_type = (PyTypeObject *)Py_NewRef(clock_cls);
    if (gl_checked_switch != NULL) {  /* checked at import (check_greenlet_api) */
        st->gl_getcurrent = gl_checked_getcurrent;
        st->gl_switch = gl_checked_switch;
        st->c_api = 1;
    }
    if (member_offset(timer_cls, "private", &st->t_private) < 0
        || member_offset(timer_cls, "tick", &st->t_tick) < 0
        || member_offset(timer_cls, "samplecount", &st->t_samplecount) < 0
        || member_offset(timer_cls, "samples", &st->t_samples) < 0
        || member_offset(timer_cls, "skipped", &st->t_skipped) < 0
        || member_offset(private_cls, "clock", &st->p_clock) < 0
        || member_offset(private_cls, "last", &st->p_last) < 0
        || member_offset(private_cls, "waiter", &st->p_waiter) < 0
        || member_offset(private_cls, "closed", &st->p_closed) < 0
        || member_offset(private_cls, "timer", &st->p_timer) < 0
        || member_offset(clock_cls, "tick", &st->c_tick) < 0
        || member_offset(clock_cls, "deadline", &st->c_deadline) < 0
        || member_offset(clock_cls, "waiters", &st->c_waiters) < 0) {
        Py_DECREF(st);
        return NULL;
    }
    return (PyObject *)st;
}

static int
state_traverse(StateObject *st, visitproc visit, void *arg)
{
    Py_VISIT(st->ready);
    Py_VISIT(st->hub_switch);
    Py_VISIT(st->raw_switch);
    Py_VISIT(st->getcurrent);
    Py_VISIT(st->slow_next);
    Py_VISIT(st->on_error);
    Py_VISIT(st->deliver_one);
    Py_VISIT(st->success);
    Py_VISIT(st->generr);
    Py_VISIT(st->timer_type);
    Py_VISIT(st->private_type);
    Py_VISIT(st->clock_type);
    return 0;
}

static int
state_clear(StateObject *st)
{
    Py_CLEAR(st->ready);
    Py_CLEAR(st->hub_switch);
    Py_CLEAR(st->raw_switch);
    Py_CLEAR(st->getcurrent);
    Py_CLEAR(st->slow_next);
    Py_CLEAR(st->on_error);
    Py_CLEAR(st->deliver_one);
    Py_CLEAR(st->success);
    Py_CLEAR(st->generr);
    Py_CLEAR(st->timer_type);
    Py_CLEAR(st->private_type);
    Py_CLEAR(st->clock_type);
    return 0;
}

static void
state_dealloc(StateObject *st)
{
    PyObject_GC_UnTrack(st);
    state_clear(st);
    Py_TYPE(st)->tp_free((PyObject *)st);
}

static PyMethodDef state_methods[] = {
    {"bind", (PyCFunction)state_bind, METH_O, "bind(timer): the C timer.next of that timer"},
    {"deliver", (PyCFunction)state_deliver, METH_O,
     "deliver(clock): the tick's bookkeeping for every waiter; greenlets queued on ready"},
    {NULL}
};

static PyMemberDef state_members[] = {
    {"stopping", T_BOOL, offsetof(StateObject, stopping), 0, "next() always takes the slow path"},
    {"c_api", T_BOOL, offsetof(StateObject, c_api), READONLY,
     "greenlets are switched through greenlet's C API"},
    {NULL}
};

static PyTypeObject State_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "softswitch._pacing.State",
    .tp_basicsize = sizeof(StateObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = state_new,
    .tp_traverse = (traverseproc)state_traverse,
    .tp_clear = (inquiry)state_clear,
    .tp_dealloc = (destructor)state_dealloc,
    .tp_methods = state_methods,
    .tp_members = state_members,
};

static struct PyModuleDef pacing_module = {
    PyModuleDef_HEAD_INIT, "_pacing", "The kernel's timer-pacing hot path in C.", -1, NULL,
};

PyMODINIT_FUNC
PyInit__pacing(void)
{
    if (PyType_Ready(&Pacer_Type) < 0 || PyType_Ready(&State_Type) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&pacing_module);
    if (m == NULL)
        return NULL;
    check_greenlet_api();
    if (PyModule_AddObjectRef(m, "State", (PyObject *)&State_Type) < 0
        || PyModule_AddObjectRef(m, "Pacer", (PyObject *)&Pacer_Type) < 0
        || PyModule_AddStringConstant(m, "greenlet_c_api", gl_api_status) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
