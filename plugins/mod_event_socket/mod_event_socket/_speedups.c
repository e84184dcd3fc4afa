/*
 * mod_event_socket._speedups: optional C versions of two pure functions on the ESL hot path.
 *
 * Built when a C compiler is there (setup.py marks the extension optional); without it, or
 * with SOFTSWITCH_ESL_PURE_PYTHON=1, framing.py and wire.py use their Python code, which is
 * also the reference the differential tests (tests/test_speedups.py) compare these against.
 *
 *   parse_head(head, /) -> (command: str, headers: list[tuple[str, str]], marks: int)
 *       framing.parse_head: a client's header block (a bytes-like, without its blank line)
 *       split as FreeSWITCH's read_packet does. Lines end at LF; a NUL ends its line (C
 *       strings). The command is the first line cut at its first CR. Each further line with
 *       a ':' is a header: the name is everything before the first ':' (not trimmed), the
 *       value what follows it, leading spaces (not tabs) skipped, cut at the first CR. Lines
 *       without ':' are ignored. Text is UTF-8 decoded with errors="replace". marks is the OR
 *       of framing.header_marks(name, value) over the headers.
 *
 *   plain(headers, body, /) -> bytes
 *       The UTF-8 bytes of softswitch.event.Event._plain() for these headers and body:
 *       "name: url_encode(value)\n" per header (a list value: its one element, or
 *       "ARRAY::" + "|:".join(values)), then "Content-Length: N\n\n" + body when the body is
 *       a non-empty str (N its UTF-8 byte count), else "\n". headers: a list of (str, value)
 *       tuples, value a str or a list/tuple of str; body: str or None. Anything else is a
 *       TypeError (wire.py then falls back to Event.serialize); lone surrogates are a
 *       UnicodeEncodeError, as the Python path's encode() gives.
 *
 * Why byte-level work gives the Python results exactly:
 *  - every delimiter (LF, CR, NUL, ':', ' ') is ASCII, and UTF-8 never uses ASCII bytes
 *    inside a multi-byte sequence; so splitting the bytes first and decoding each piece
 *    gives what decoding the whole block and splitting the text gives, replacement
 *    characters included (an invalid sequence never swallows the ASCII byte after it);
 *  - header_marks looks at a ']' or '_body' name, an empty name or value, an 'ARRAY::'
 *    value prefix, and names of 14 characters equal to event-subclass / content-length in
 *    lower case: all ASCII tests. str.lower() maps only two non-ASCII characters to ASCII
 *    letters (U+0130 -> "i" + U+0307, U+212A KELVIN -> "k"), neither can make these names,
 *    so a 14-byte ASCII case-insensitive compare is the same test;
 *  - url_encode (FreeSWITCH's switch_url_encode) keeps A-Z a-z 0-9 and !$'()*,-./_~, copies
 *    "%" + two of 0-9A-F as they are, and writes every other UTF-8 byte as %XX (upper-case
 *    hex). Python finds the %XX runs on the text and quote()s the rest; a run is ASCII, so
 *    scanning the UTF-8 bytes finds the same runs. An array is encoded element by element
 *    with "ARRAY%3A%3A" and "%7C%3A" between: a run cannot cross a separator, as neither
 *    '|' nor ':' is a hex digit.
 *
 * The GIL is kept: a call takes about a microsecond, and softswitch runs greenlets.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* parse_head                                                                                 */
/* ------------------------------------------------------------------------------------------ */

/* framing.SPECIAL, EVENT_SUBCLASS, CONTENT_LENGTH */
#define MARK_SPECIAL 1
#define MARK_EVENT_SUBCLASS 2
#define MARK_CONTENT_LENGTH 4

static PyObject *
decode(const char *s, Py_ssize_t n)
{
    return PyUnicode_DecodeUTF8(s, n, "replace");
}

/* ASCII case-insensitive compare of 14 bytes with a lower-case literal. */
static int
eq_lower14(const char *s, const char *lower)
{
    for (int i = 0; i < 14; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z') {
            c += 'a' - 'A';
        }
        if (c != (unsigned char)lower[i]) {
            return 0;
        }
    }
    return 1;
}

static long
header_marks(const char *name, Py_ssize_t nlen, const char *value, Py_ssize_t vlen)
{
    long marks = 0;
    if (nlen == 0 || vlen == 0 || name[nlen - 1] == ']'
        || (nlen == 5 && memcmp(name, "_body", 5) == 0)
        || (vlen >= 7 && memcmp(value, "ARRAY::", 7) == 0)) {
        marks = MARK_SPECIAL;
    }
    if (nlen == 14) {
        if (eq_lower14(name, "event-subclass")) {
            marks |= MARK_EVENT_SUBCLASS;
        }
        else if (eq_lower14(name, "content-length")) {
            marks |= MARK_CONTENT_LENGTH;
        }
    }
    return marks;
}

/* The end of the line starting at p: its LF (or end), and where its text ends (first NUL). */
static const char *
text_end(const char *p, const char *line_end)
{
    const char *nul = memchr(p, '\0', (size_t)(line_end - p));
    return nul != NULL ? nul : line_end;
}

static PyObject *
speedups_parse_head(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    const char *data, *end, *nl, *stop, *cr;
    Py_ssize_t len;
    PyObject *command = NULL, *headers = NULL, *result = NULL;
    long marks = 0;

    if (nargs != 1) {
        PyErr_Format(PyExc_TypeError, "parse_head expected 1 argument, got %zd", nargs);
        return NULL;
    }
    if (PyBytes_CheckExact(args[0])) {
        view.obj = NULL;
        data = PyBytes_AS_STRING(args[0]);
        len = PyBytes_GET_SIZE(args[0]);
    }
    else {
        if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
            return NULL;
        }
        data = (const char *)view.buf;
        len = view.len;
    }
    if (len == 0) {
        data = ""; /* an empty buffer's pointer may be NULL: memchr must not see it */
    }
    end = data + len;

    /* the command: the first line, cut at its NUL, then at its first CR */
    nl = memchr(data, '\n', (size_t)len);
    stop = text_end(data, nl != NULL ? nl : end);
    cr = memchr(data, '\r', (size_t)(stop - data));
    command = decode(data, (cr != NULL ? cr : stop) - data);
    if (command == NULL) {
        goto done;
    }
    headers = PyList_New(0);
    if (headers == NULL) {
        goto done;
    }
    while (nl != NULL) {
        const char *line = nl + 1, *colon, *value, *vend;
        PyObject *name_obj, *value_obj, *pair;
        int rc;

        nl = memchr(line, '\n', (size_t)(end - line));
        stop = text_end(line, nl != NULL ? nl : end);
        colon = memchr(line, ':', (size_t)(stop - line));
        if (colon == NULL) {
            continue;
        }
        value = colon + 1;
        while (value < stop && *value == ' ') {
            value++;
        }
        cr = memchr(value, '\r', (size_t)(stop - value));
        vend = cr != NULL ? cr : stop;
        marks |= header_marks(line, colon - line, value, vend - value);

        name_obj = decode(line, colon - line);
        if (name_obj == NULL) {
            goto done;
        }
        value_obj = decode(value, vend - value);
        if (value_obj == NULL) {
            Py_DECREF(name_obj);
            goto done;
        }
        pair = PyTuple_New(2);
        if (pair == NULL) {
            Py_DECREF(name_obj);
            Py_DECREF(value_obj);
            goto done;
        }
        PyTuple_SET_ITEM(pair, 0, name_obj);
        PyTuple_SET_ITEM(pair, 1, value_obj);
        rc = PyList_Append(headers, pair);
        Py_DECREF(pair);
        if (rc < 0) {
            goto done;
        }
    }
    result = PyTuple_New(3);
    if (result != NULL) {
        PyObject *m = PyLong_FromLong(marks);
        if (m == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        PyTuple_SET_ITEM(result, 0, command);
        PyTuple_SET_ITEM(result, 1, headers);
        PyTuple_SET_ITEM(result, 2, m);
        command = headers = NULL; /* now the result's */
    }
done:
    Py_XDECREF(command);
    Py_XDECREF(headers);
    if (view.obj != NULL) {
        PyBuffer_Release(&view);
    }
    return result;
}

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

/* url_encode of n UTF-8 bytes into out (room for 3 * n); returns the end of what it wrote. */
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
        else if (c == '%' && i + 2 < n && (url_class[s[i + 1]] & UPPER_HEX)
                 && (url_class[s[i + 2]] & UPPER_HEX)) {
            out[0] = '%';
            out[1] = (char)s[i + 1];
            out[2] = (char)s[i + 2];
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

/* The UTF-8 of an exact str (borrowed, cached in the str by CPython), or NULL with an error. */
static const char *
utf8_of(PyObject *obj, Py_ssize_t *size, const char *what)
{
    if (!PyUnicode_CheckExact(obj)) {
        PyErr_Format(PyExc_TypeError, "plain: %s must be str, not %.200s", what,
                     Py_TYPE(obj)->tp_name);
        return NULL;
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

/* Encode one header line "name: value\n" into out (NULL: only check it and return its bound). */
static Py_ssize_t
header_line(PyObject *h, char **out)
{
    PyObject *name, *value;
    const char *n, *v;
    Py_ssize_t nlen, vlen, bound;

    if (!PyTuple_Check(h) || PyTuple_GET_SIZE(h) < 2) {
        PyErr_Format(PyExc_TypeError, "plain: a header must be a (name, value) tuple, not %.200s",
                     Py_TYPE(h)->tp_name);
        return -1;
    }
    name = PyTuple_GET_ITEM(h, 0);
    value = PyTuple_GET_ITEM(h, 1);
    n = utf8_of(name, &nlen, "a header name");
    if (n == NULL) {
        return -1;
    }
    bound = nlen + 3; /* ": " and "\n" */
    if (out != NULL) {
        memcpy(*out, n, (size_t)nlen);
        (*out)[nlen] = ':';
        (*out)[nlen + 1] = ' ';
        *out += nlen + 2;
    }
    if (PyUnicode_CheckExact(value)) {
        v = PyUnicode_AsUTF8AndSize(value, &vlen);
        if (v == NULL) {
            return -1;
        }
        if (vlen > (PY_SSIZE_T_MAX - bound) / 3) {
            PyErr_NoMemory();
            return -1;
        }
        bound += 3 * vlen;
        if (out != NULL) {
            *out = url_encode(*out, (const unsigned char *)v, vlen);
        }
    }
    else {
        Py_ssize_t count;
        PyObject *const *items;
        if (array_items(value, &items, &count) < 0) {
            return -1;
        }
        if (count != 1) {
            bound += 3 * 7; /* "ARRAY::" */
            if (out != NULL) {
                memcpy(*out, "ARRAY%3A%3A", 11);
                *out += 11;
            }
        }
        for (Py_ssize_t i = 0; i < count; i++) {
            v = utf8_of(items[i], &vlen, "an array element");
            if (v == NULL) {
                return -1;
            }
            if (vlen > (PY_SSIZE_T_MAX - bound) / 3 - 2) {
                PyErr_NoMemory();
                return -1;
            }
            bound += 3 * vlen + (i ? 3 * 2 : 0); /* "|:" before each but the first */
            if (out != NULL) {
                if (i) {
                    memcpy(*out, "%7C%3A", 6);
                    *out += 6;
                }
                *out = url_encode(*out, (const unsigned char *)v, vlen);
            }
        }
    }
    if (out != NULL) {
        *(*out)++ = '\n';
    }
    return bound;
}

#define STACK_BYTES 8192

static PyObject *
speedups_plain(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *headers, *body, *result = NULL;
    const char *body_utf8 = NULL;
    Py_ssize_t nheaders, bound = 0, body_len = 0, head_len, tail_len;
    char stack[STACK_BYTES], *scratch = stack, *w, length_text[32];
    int length_len = 0;

    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "plain expected 2 arguments, got %zd", nargs);
        return NULL;
    }
    headers = args[0];
    body = args[1];
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
    }
    /* First pass: types, UTF-8 (cached in each str) and a bound of the encoded size. Nothing
     * here runs Python code, so the list and its items cannot change under the second pass. */
    nheaders = PyList_GET_SIZE(headers);
    for (Py_ssize_t i = 0; i < nheaders; i++) {
        Py_ssize_t b = header_line(PyList_GET_ITEM(headers, i), NULL);
        if (b < 0) {
            return NULL;
        }
        if (b > PY_SSIZE_T_MAX - bound) {
            return PyErr_NoMemory();
        }
        bound += b;
    }
    if (bound > STACK_BYTES) {
        scratch = PyMem_Malloc((size_t)bound);
        if (scratch == NULL) {
            return PyErr_NoMemory();
        }
    }
    w = scratch;
    for (Py_ssize_t i = 0; i < nheaders; i++) {
        header_line(PyList_GET_ITEM(headers, i), &w); /* cannot fail: checked above */
    }
    head_len = w - scratch;

    if (body_len > 0) {
        length_len = snprintf(length_text, sizeof length_text, "Content-Length: %zd\n\n",
                              body_len);
        tail_len = length_len + body_len;
    }
    else {
        tail_len = 1; /* "\n" */
    }
    if (tail_len > PY_SSIZE_T_MAX - head_len) {
        PyErr_NoMemory();
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, head_len + tail_len);
    if (result == NULL) {
        goto done;
    }
    w = PyBytes_AS_STRING(result);
    memcpy(w, scratch, (size_t)head_len);
    w += head_len;
    if (body_len > 0) {
        memcpy(w, length_text, (size_t)length_len);
        memcpy(w + length_len, body_utf8, (size_t)body_len);
    }
    else {
        *w = '\n';
    }
done:
    if (scratch != stack) {
        PyMem_Free(scratch);
    }
    return result;
}

/* ------------------------------------------------------------------------------------------ */

static PyMethodDef speedups_methods[] = {
    {"parse_head", (PyCFunction)(void (*)(void))speedups_parse_head, METH_FASTCALL,
     "parse_head($module, head, /)\n--\n\n"
     "framing.parse_head in C: a header block (bytes-like) -> (command, [(name, value)...],\n"
     "marks)."},
    {"plain", (PyCFunction)(void (*)(void))speedups_plain, METH_FASTCALL,
     "plain($module, headers, body, /)\n--\n\n"
     "The UTF-8 bytes of Event._plain() for these headers ([(str, str | list[str])...])\n"
     "and body (str or None)."},
    {NULL, NULL, 0, NULL},
};

/* No Py_mod_gil slot: plain() reads the list's items, borrowed, in two passes and relies on
 * the GIL to keep the list as it is in between (a free-threaded build enables the GIL). */
static struct PyModuleDef_Slot speedups_slots[] = {
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
    {0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "mod_event_socket._speedups",
    .m_doc = "Optional C versions of framing.parse_head and of Event._plain for the wire.",
    .m_size = 0,
    .m_methods = speedups_methods,
    .m_slots = speedups_slots,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&speedups_module);
}
