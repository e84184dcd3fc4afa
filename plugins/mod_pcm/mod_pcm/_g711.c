/*
 * mod_pcm._g711: optional C speedups for mod_pcm.g711 (byte-table gathers, no G.711 in here).
 *
 * Two generic lookups whose tables come from Python: mod_pcm/g711.py computes them from
 * FreeSWITCH's g711.h algorithm, so bit-exactness has a single source and the exhaustive
 * tests check these loops end to end. Built when a C compiler is there (setup.py marks the
 * extension optional); without it g711.py uses its numpy/str code paths.
 *
 *   encode16(table, linear) -> bytes
 *       table: bytes of 65,536 codes; linear: a bytes-like of 16-bit host-order samples.
 *       out[i] = table[(uint16_t)sample[i]]. ValueError on an odd byte count.
 *   decode8(pairs, codes) -> bytes
 *       pairs: bytes of 65,536 entries of 4 bytes (262,144 bytes): the entry at the uint16
 *       that two consecutive codes make in memory holds those codes' two 16-bit host-order
 *       samples, in order. codes: a bytes-like. The codes are read two at a time, one entry
 *       copied per pair; an odd last code c is read as the pair (c, c), its first sample kept.
 *
 * Why C: numpy's fixed cost per call (about 1.1 us for numpy.take on two bytes, 1.4 us for a
 * 20 ms frame) is more than audioop's whole 20 ms call (about 0.7-1.3 us encode, 0.3 us
 * decode), and no numpy or stdlib primitive gathers faster than audioop's decode loop.
 *
 * Why pairs for decode. Timed from Python beside audioop on bench/codecs.py's speech-level
 * signal (1 s, 8000 codes; the 2-vCPU development VM, AMD Zen 3): one 256-entry int16 lookup
 * per code, byte by byte, 1.15-1.2x audioop's speed (two loads per sample: the code and the
 * entry); the same reading eight codes per load, 1.45-1.5x; one 65,536-entry lookup per two
 * codes, 1.55-1.8x. The pair table (256 KiB) does not fit in L1, so the gain is smaller than
 * the halved lookups suggest, and on uniformly random codes the two tables are about even;
 * speech is what G.711 carries.
 *
 * The GIL is kept: a 1 s batch takes about 2 us, and softswitch runs greenlets, not threads.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define ENCODE_TABLE_BYTES 65536
#define DECODE_TABLE_BYTES (65536 * 4)

/* The bytes-like argument's data: bytes objects directly, anything else through the buffer
 * protocol (C-contiguous; a strided memoryview is refused by PyBUF_SIMPLE). */
static int
get_data(PyObject *obj, Py_buffer *view, const unsigned char **data, Py_ssize_t *len)
{
    if (PyBytes_CheckExact(obj)) {
        view->obj = NULL;
        *data = (const unsigned char *)PyBytes_AS_STRING(obj);
        *len = PyBytes_GET_SIZE(obj);
        return 0;
    }
    if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) < 0) {
        return -1;
    }
    *data = (const unsigned char *)view->buf;
    *len = view->len;
    return 0;
}

static void
release_data(Py_buffer *view)
{
    if (view->obj != NULL) {
        PyBuffer_Release(view);
    }
}

static int
check_table(const char *fname, PyObject *table, Py_ssize_t size)
{
    if (!PyBytes_Check(table)) {
        PyErr_Format(PyExc_TypeError, "%s: the table must be bytes, not %.200s", fname,
                     Py_TYPE(table)->tp_name);
        return -1;
    }
    if (PyBytes_GET_SIZE(table) != size) {
        PyErr_Format(PyExc_ValueError, "%s: the table must be %zd bytes, not %zd", fname,
                     size, PyBytes_GET_SIZE(table));
        return -1;
    }
    return 0;
}

static PyObject *
g711_encode16(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    const unsigned char *in;
    Py_ssize_t len, n, i;
    PyObject *out;

    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "encode16 expected 2 arguments, got %zd", nargs);
        return NULL;
    }
    if (check_table("encode16", args[0], ENCODE_TABLE_BYTES) < 0) {
        return NULL;
    }
    if (get_data(args[1], &view, &in, &len) < 0) {
        return NULL;
    }
    if (len & 1) {
        release_data(&view);
        PyErr_Format(PyExc_ValueError,
                     "encode16: %zd bytes is not a whole number of 16-bit samples", len);
        return NULL;
    }
    n = len >> 1;
    out = PyBytes_FromStringAndSize(NULL, n);
    if (out != NULL) {
        const unsigned char *table = (const unsigned char *)PyBytes_AS_STRING(args[0]);
        unsigned char *o = (unsigned char *)PyBytes_AS_STRING(out);
        for (i = 0; i < n; i++) {
            uint16_t s;
            memcpy(&s, in + 2 * i, 2);   /* host order; any alignment */
            o[i] = table[s];
        }
    }
    release_data(&view);
    return out;
}

static PyObject *
g711_decode8(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    const unsigned char *in;
    Py_ssize_t len, i;
    PyObject *out;

    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "decode8 expected 2 arguments, got %zd", nargs);
        return NULL;
    }
    if (check_table("decode8", args[0], DECODE_TABLE_BYTES) < 0) {
        return NULL;
    }
    if (get_data(args[1], &view, &in, &len) < 0) {
        return NULL;
    }
    if (len > PY_SSIZE_T_MAX / 2) {                          /* 2 * len would overflow */
        release_data(&view);
        return PyErr_NoMemory();
    }
    out = PyBytes_FromStringAndSize(NULL, 2 * len);
    if (out != NULL) {
        const unsigned char *pairs = (const unsigned char *)PyBytes_AS_STRING(args[0]);
        unsigned char *o = (unsigned char *)PyBytes_AS_STRING(out);
        Py_ssize_t npairs = len >> 1;
        uint16_t two, t1, t2, t3;
        /* Four pairs per turn: a one-pair loop is so small that where the compiler happens to
         * place it (across a 64-byte boundary or not) changed its speed by 25% here. */
        for (i = 0; i + 4 <= npairs; i += 4) {
            memcpy(&two, in + 2 * i, 2);                     /* two codes, as laid out */
            memcpy(&t1, in + 2 * i + 2, 2);
            memcpy(&t2, in + 2 * i + 4, 2);
            memcpy(&t3, in + 2 * i + 6, 2);
            memcpy(o + 4 * i, pairs + 4 * (size_t)two, 4);   /* their two samples */
            memcpy(o + 4 * i + 4, pairs + 4 * (size_t)t1, 4);
            memcpy(o + 4 * i + 8, pairs + 4 * (size_t)t2, 4);
            memcpy(o + 4 * i + 12, pairs + 4 * (size_t)t3, 4);
        }
        for (; i < npairs; i++) {
            memcpy(&two, in + 2 * i, 2);
            memcpy(o + 4 * i, pairs + 4 * (size_t)two, 4);
        }
        if (len & 1) {                                       /* the last code, twice */
            unsigned char last[2] = {in[len - 1], in[len - 1]};
            memcpy(&two, last, 2);
            memcpy(o + 2 * (len - 1), pairs + 4 * (size_t)two, 2);
        }
    }
    release_data(&view);
    return out;
}

static PyMethodDef g711_methods[] = {
    {"encode16", (PyCFunction)(void (*)(void))g711_encode16, METH_FASTCALL,
     "encode16($module, table, linear, /)\n--\n\n"
     "out[i] = table[uint16 sample i]: table is bytes of 65,536 codes, linear a bytes-like of\n"
     "16-bit host-order samples. ValueError on an odd byte count or a wrong table size."},
    {"decode8", (PyCFunction)(void (*)(void))g711_decode8, METH_FASTCALL,
     "decode8($module, pairs, codes, /)\n--\n\n"
     "16-bit host-order samples of codes (a bytes-like), two at a time from pairs: bytes of\n"
     "65,536 4-byte entries, the two samples of the two codes whose bytes make the uint16\n"
     "index. ValueError on a wrong table size."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef_Slot g711_slots[] = {
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#if PY_VERSION_HEX >= 0x030D0000
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef g711_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "mod_pcm._g711",
    .m_doc = "Optional C gathers for mod_pcm.g711 (tables come from Python).",
    .m_size = 0,
    .m_methods = g711_methods,
    .m_slots = g711_slots,
};

PyMODINIT_FUNC
PyInit__g711(void)
{
    return PyModuleDef_Init(&g711_module);
}
