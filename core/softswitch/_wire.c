/*
 * softswitch._wire: the optional C version of Event._plain for the wire (Event.encode).
 *
 * Built when a C compiler is there (setup.py marks the extension optional); without it, or
 * with SOFTSWITCH_PURE_PYTHON=1, softswitch.event uses its Python code, which is also the
 * reference the differential tests (tests/kernel/test_wire.py) compare this against.
 *
 *   plain(headers, body, framed=False, /) -> bytes
 *       The UTF-8 bytes of softswitch.event.Event._plain() for these headers and body:
 *       "name: url_encode(value)\n" per header (a list value: its one element, or
 *       "ARRAY::" + "|:".join(values)), then "Content-Length: N\n\n" + body when the body is
 *       a non-empty str (N its UTF-8 byte count), else "\n". headers: a list of (str, value)
 *       tuples, value a str or a list/tuple of str; body: str or None. Anything else is a
 *       TypeError; a str holding lone surrogates (bytes that came in as no UTF-8) is a
 *       UnicodeEncodeError: Event.encode then uses the Python code, which writes those bytes
 *       back as they came (surrogateescape). framed: the same bytes after
 *       "Content-Length: <their length>\nContent-Type: text/event-plain\n\n", the whole Event
 *       Socket message, written in one allocation.
 *
 * Why byte-level work gives the Python results exactly: url_encode (FreeSWITCH's
 * switch_url_encode) keeps A-Z a-z 0-9 and !$'()*,-./_~, copies "%" + two of 0-9A-F as they
 * are, and writes every other UTF-8 byte as %XX (upper-case hex). Python finds the %XX runs on
 * the text and quote()s the rest; a run is ASCII, so scanning the UTF-8 bytes finds the same
 * runs. An array is encoded element by element with "ARRAY%3A%3A" and "%7C%3A" between: a run
 * cannot cross a separator, as neither '|' nor ':' is a hex digit.
 *
 * Costs: two passes, the first checks the types, finds the UTF-8 of each str (an ASCII str's
 * own bytes) and the exact encoded size, the second writes into the result; a value with
 * nothing to escape is copied whole. The GIL is kept: a call takes about a microsecond.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define STACK_ITEMS 64

/* ------------------------------------------------------------------------------------------ */
/* plain                                                                                      */
/* ------------------------------------------------------------------------------------------ */

/* Per byte: URL_SAFE for what switch_url_encode keeps (urllib.parse.quote's always-safe
 * A-Z a-z 0-9 _.-~ plus event.py's _RAW_SAFE !$'()*,/), UPPER_HEX for 0-9 A-F (the two digits
 * after a '%' that it copies as they are). */
#define URL_SAFE 1
#define UPPER_HEX 2
static const unsigned char url_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 1, 0, 0, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 0, 0,
    0, 3, 3, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0,
    /* 0x80-0xFF: the bytes of non-ASCII characters, always %XX */
};

/* '%' and two upper-case hex digits at s[i]: url_encode copies them as they are */
#define PERCENT_HEX(s, i, n)                                                                   \
    ((s)[i] == '%' && (i) + 2 < (n) && (url_class[(s)[(i) + 1]] & UPPER_HEX)                   \
     && (url_class[(s)[(i) + 2]] & UPPER_HEX))

/* The length of url_encode(s): each byte it escapes becomes three. */
static Py_ssize_t
encoded_len(const unsigned char *s, Py_ssize_t n)
{
    Py_ssize_t i = 0, escaped = 0;
    while (i < n) {
        if (url_class[s[i]] & URL_SAFE) {
            i++;
        }
        else if (PERCENT_HEX(s, i, n)) {
            i += 3;
        }
        else {
            escaped++;
            i++;
        }
    }
    return n + 2 * escaped;
}

/* url_encode of n UTF-8 bytes into out; returns the end of what it wrote. */
static char *
url_encode(char *out, const unsigned char *s, Py_ssize_t n)
{
    static const char digits[] = "0123456789ABCDEF";
    Py_ssize_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (url_class[c] & URL_SAFE) {
            *out++ = (char)c;
            i++;
        }
        else if (PERCENT_HEX(s, i, n)) {
            memcpy(out, s + i, 3);
            out += 3;
            i += 3;
        }
        else {
            out[0] = '%';
            out[1] = digits[c >> 4];
            out[2] = digits[c & 15];
            out += 3;
            i++;
        }
    }
    return out;
}

/* The UTF-8 of an exact str (borrowed: an ASCII str's own data, else the UTF-8 copy CPython
 * caches in the str), or NULL with an error. */
static const char *
utf8_of(PyObject *obj, Py_ssize_t *size, const char *what)
{
    if (!PyUnicode_CheckExact(obj)) {
        PyErr_Format(PyExc_TypeError, "plain: %s must be str, not %.200s", what,
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    if (PyUnicode_IS_COMPACT_ASCII(obj)) {
        *size = PyUnicode_GET_LENGTH(obj);
        return (const char *)PyUnicode_1BYTE_DATA(obj);
    }
    return PyUnicode_AsUTF8AndSize(obj, size);
}

/* The elements of an array value (a list or tuple; an empty list's may be NULL): 0, or -1 with
 * a TypeError. */
static int
array_items(PyObject *value, PyObject *const **items, Py_ssize_t *count)
{
    if (PyList_CheckExact(value)) {
        *count = PyList_GET_SIZE(value);
        *items = (PyObject *const *)((PyListObject *)value)->ob_item;
        return 0;
    }
    if (PyTuple_CheckExact(value)) {
        *count = PyTuple_GET_SIZE(value);
        *items = (PyObject *const *)((PyTupleObject *)value)->ob_item;
        return 0;
    }
    PyErr_Format(PyExc_TypeError, "plain: a header value must be str or a list of str, not %.200s",
                 Py_TYPE(value)->tp_name);
    return -1;
}

/* One header, as the first pass found it. */
typedef struct {
    const char *name, *value; /* UTF-8; value NULL for an array */
    Py_ssize_t nlen, vlen;
    Py_ssize_t elen;          /* the length of the encoded value */
    PyObject *array;          /* the array value (borrowed), or NULL */
} line_t;

/* Check one header and fill in its line_t: 0, or -1 with an error. */
static int
scan_header(PyObject *h, line_t *ln)
{
    PyObject *value;
    if (!PyTuple_Check(h) || PyTuple_GET_SIZE(h) < 2) {
        PyErr_Format(PyExc_TypeError, "plain: a header must be a (name, value) tuple, not %.200s",
                     Py_TYPE(h)->tp_name);
        return -1;
    }
    ln->name = utf8_of(PyTuple_GET_ITEM(h, 0), &ln->nlen, "a header name");
    if (ln->name == NULL) {
        return -1;
    }
    if (ln->nlen > PY_SSIZE_T_MAX / 12) {
        PyErr_NoMemory();
        return -1;
    }
    value = PyTuple_GET_ITEM(h, 1);
    if (PyUnicode_CheckExact(value)) {
        ln->value = utf8_of(value, &ln->vlen, "a header value");
        if (ln->value == NULL) {
            return -1;
        }
        if (ln->vlen > PY_SSIZE_T_MAX / 12) { /* encoded, at most PY_SSIZE_T_MAX / 4 */
            PyErr_NoMemory();
            return -1;
        }
        ln->array = NULL;
        ln->elen = encoded_len((const unsigned char *)ln->value, ln->vlen);
    }
    else {
        Py_ssize_t count, elen;
        PyObject *const *items;
        if (array_items(value, &items, &count) < 0) {
            return -1;
        }
        ln->value = NULL;
        ln->vlen = 0;
        ln->array = value;
        elen = count == 1 ? 0 : 11; /* "ARRAY%3A%3A" */
        for (Py_ssize_t i = 0; i < count; i++) {
            Py_ssize_t n;
            const char *v = utf8_of(items[i], &n, "an array element");
            if (v == NULL) {
                return -1;
            }
            if (n > PY_SSIZE_T_MAX / 12) {
                PyErr_NoMemory();
                return -1;
            }
            /* "%7C%3A" before each but the first */
            elen += (i ? 6 : 0) + encoded_len((const unsigned char *)v, n);
            if (elen > PY_SSIZE_T_MAX / 4) {
                PyErr_NoMemory();
                return -1;
            }
        }
        ln->elen = elen;
    }
    return 0;
}

/* Write one header line, "name: value\n". */
static char *
write_header(char *w, const line_t *ln)
{
    memcpy(w, ln->name, (size_t)ln->nlen);
    w += ln->nlen;
    *w++ = ':';
    *w++ = ' ';
    if (ln->array == NULL) {
        if (ln->elen == ln->vlen) { /* nothing escaped: url_encode gives the value back */
            memcpy(w, ln->value, (size_t)ln->vlen);
            w += ln->vlen;
        }
        else {
            w = url_encode(w, (const unsigned char *)ln->value, ln->vlen);
        }
    }
    else {
        Py_ssize_t count;
        PyObject *const *items;
        array_items(ln->array, &items, &count); /* checked by scan_header */
        if (count != 1) {
            memcpy(w, "ARRAY%3A%3A", 11);
            w += 11;
        }
        for (Py_ssize_t i = 0; i < count; i++) {
            Py_ssize_t n;
            const char *v = utf8_of(items[i], &n, NULL); /* cached by scan_header */
            if (i) {
                memcpy(w, "%7C%3A", 6);
                w += 6;
            }
            w = url_encode(w, (const unsigned char *)v, n);
        }
    }
    *w++ = '\n';
    return w;
}

/* "Content-Length: <n><after>" into out (room for 40 + strlen(after)); returns its length.
 * By hand: snprintf costs about 1,200 instructions here, a third of the rest of the call. */
static int
content_length(char *out, Py_ssize_t n, const char *after)
{
    char digits[24];
    int nd = 0, len;
    do {
        digits[nd++] = (char)('0' + n % 10);
        n /= 10;
    } while (n > 0);
    memcpy(out, "Content-Length: ", 16);
    len = 16;
    while (nd > 0) {
        out[len++] = digits[--nd];
    }
    for (; *after; after++) {
        out[len++] = *after;
    }
    return len;
}

static PyObject *
wire_plain(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *headers, *body, *result = NULL;
    const char *body_utf8 = NULL;
    Py_ssize_t nheaders, size = 0, body_len = 0;
    line_t stack_lines[STACK_ITEMS], *lines = stack_lines;
    char length_text[48], frame_text[96], *w;
    int length_len = 0, frame_len = 0, framed = 0;

    if (nargs != 2 && nargs != 3) {
        PyErr_Format(PyExc_TypeError, "plain expected 2 or 3 arguments, got %zd", nargs);
        return NULL;
    }
    headers = args[0];
    body = args[1];
    if (nargs == 3) {
        framed = PyObject_IsTrue(args[2]);
        if (framed < 0) {
            return NULL;
        }
    }
    if (!PyList_Check(headers)) {
        PyErr_Format(PyExc_TypeError, "plain: headers must be a list, not %.200s",
                     Py_TYPE(headers)->tp_name);
        return NULL;
    }
    if (body != Py_None) {
        body_utf8 = utf8_of(body, &body_len, "the body");
        if (body_utf8 == NULL) {
            return NULL;
        }
        if (body_len > PY_SSIZE_T_MAX / 4) {
            return PyErr_NoMemory();
        }
    }
    /* First pass: types, UTF-8 and the exact size. Nothing from here on runs Python code, so
     * the list and its items cannot change under the second pass. */
    nheaders = PyList_GET_SIZE(headers);
    if (nheaders > STACK_ITEMS) {
        lines = PyMem_New(line_t, (size_t)nheaders);
        if (lines == NULL) {
            return PyErr_NoMemory();
        }
    }
    for (Py_ssize_t i = 0; i < nheaders; i++) {
        line_t *ln = &lines[i];
        if (scan_header(PyList_GET_ITEM(headers, i), ln) < 0) {
            goto done;
        }
        /* each part is at most PY_SSIZE_T_MAX / 4: the sum of two cannot overflow */
        size += ln->nlen + ln->elen + 3; /* ": " and "\n" */
        if (size > PY_SSIZE_T_MAX / 4) {
            PyErr_NoMemory();
            goto done;
        }
    }
    if (body_len > 0) {
        length_len = content_length(length_text, body_len, "\n\n");
        size += length_len + body_len;
    }
    else {
        size += 1; /* "\n" */
    }
    if (framed) {
        frame_len = content_length(frame_text, size, "\nContent-Type: text/event-plain\n\n");
    }
    result = PyBytes_FromStringAndSize(NULL, frame_len + size);
    if (result == NULL) {
        goto done;
    }
    w = PyBytes_AS_STRING(result);
    memcpy(w, frame_text, (size_t)frame_len);
    w += frame_len;
    for (Py_ssize_t i = 0; i < nheaders; i++) {
        w = write_header(w, &lines[i]);
    }
    if (body_len > 0) {
        memcpy(w, length_text, (size_t)length_len);
        memcpy(w + length_len, body_utf8, (size_t)body_len);
    }
    else {
        *w = '\n';
    }
done:
    if (lines != stack_lines) {
        PyMem_Free(lines);
    }
    return result;
}

/* ------------------------------------------------------------------------------------------ */

static PyMethodDef wire_methods[] = {
    {"plain", (PyCFunction)(void (*)(void))wire_plain, METH_FASTCALL,
     "plain($module, headers, body, framed=False, /)\n--\n\n"
     "The UTF-8 bytes of Event._plain() for these headers ([(str, str | list[str])...])\n"
     "and body (str or None); framed: after 'Content-Length: N\\nContent-Type:\n"
     "text/event-plain\\n\\n', as the Event Socket sends it."},
    {NULL, NULL, 0, NULL},
};

/* No Py_mod_gil slot: plain() reads the list's items, borrowed, in two passes and relies on
 * the GIL to keep the list as it is in between (a free-threaded build enables the GIL). */
static struct PyModuleDef_Slot wire_slots[] = {
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
    {0, NULL},
};

static struct PyModuleDef wire_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "softswitch._wire",
    .m_doc = "Optional C version of Event._plain for the wire (softswitch.event.Event.encode).",
    .m_size = 0,
    .m_methods = wire_methods,
    .m_slots = wire_slots,
};

PyMODINIT_FUNC
PyInit__wire(void)
{
    return PyModuleDef_Init(&wire_module);
}
