/*
 * mod_event_socket._speedups: the optional C version of a pure function on the ESL hot path.
 *
 * Built when a C compiler is there (setup.py marks the extension optional); without it, or
 * with SOFTSWITCH_PURE_PYTHON=1, framing.py uses its Python code, which is
 * also the reference the differential tests (tests/test_speedups.py) compare these against.
 *
 *   parse_head(head, /) -> (command: str, headers: list[tuple[str, str]], marks: int)
 *       framing.parse_head: a client's header block (a bytes-like, without its blank line)
 *       split as FreeSWITCH's read_packet does. Lines end at LF; a NUL ends its line (C
 *       strings). The command is the first line cut at its first CR. Each further line with
 *       a ':' is a header: the name is everything before the first ':' (not trimmed), the
 *       value what follows it, leading spaces (not tabs) skipped, cut at the first CR. Lines
 *       without ':' are ignored. Text is UTF-8 decoded with errors="surrogateescape" (bytes
 *       that are not UTF-8 stay as lone surrogates, so they go back out unchanged). marks is the OR
 *       of framing.header_marks(name, value) over the headers.
 *
 *   (Event serialization for the wire, plain() here once, is the kernel's: softswitch._wire,
 *   reached through the public Event.encode.)
 *
 * Why byte-level work gives the Python results exactly:
 *  - every delimiter (LF, CR, NUL, ':', ' ') is ASCII, and UTF-8 never uses ASCII bytes
 *    inside a multi-byte sequence; so splitting the bytes first and decoding each piece
 *    gives what decoding the whole block and splitting the text gives, escaped bytes
 *    included (an invalid sequence never swallows the ASCII byte after it);
 *  - header_marks looks at a ']' or '_body' name, an empty name or value, an 'ARRAY::'
 *    value prefix, and names of 14 characters equal to event-subclass / content-length in
 *    lower case: all ASCII tests. str.lower() maps only two non-ASCII characters to ASCII
 *    letters (U+0130 -> "i" + U+0307, U+212A KELVIN -> "k"), neither can make these names,
 *    so a 14-byte ASCII case-insensitive compare is the same test;
 *
 * Costs. parse_head copies ASCII pieces into new str objects itself (PyUnicode_DecodeUTF8
 * takes about 250 instructions even for a short ASCII piece), looks for NUL, CR and non-ASCII
 * bytes once per block, and fills the list at its final size. The GIL is kept: a call takes
 * about a microsecond, and softswitch runs greenlets.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define STACK_ITEMS 64

/* ------------------------------------------------------------------------------------------ */
/* parse_head                                                                                 */
/* ------------------------------------------------------------------------------------------ */

/* framing.SPECIAL, EVENT_SUBCLASS, CONTENT_LENGTH */
#define MARK_SPECIAL 1
#define MARK_EVENT_SUBCLASS 2
#define MARK_CONTENT_LENGTH 4

static int
is_ascii(const char *s, Py_ssize_t n)
{
    const char *end = s + n;
    uint64_t acc = 0;
    for (; end - s >= 8; s += 8) {
        uint64_t word;
        memcpy(&word, s, 8);
        acc |= word;
    }
    for (; s < end; s++) {
        acc |= (unsigned char)*s;
    }
    return (acc & UINT64_C(0x8080808080808080)) == 0;
}

/* n bytes as a str: copied when ASCII (known, or checked here), else UTF-8 decoded with
 * errors="surrogateescape". PyUnicode_DecodeUTF8 costs about 250 instructions even on a short ASCII
 * piece; PyUnicode_New and a copy about a third of that. */
static PyObject *
text(const char *s, Py_ssize_t n, int ascii)
{
    PyObject *u;
    if (!ascii && !is_ascii(s, n)) {
        return PyUnicode_DecodeUTF8(s, n, "surrogateescape");
    }
    u = PyUnicode_New(n, 127);
    if (u != NULL) {
        memcpy(PyUnicode_1BYTE_DATA(u), s, (size_t)n);
    }
    return u;
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
        || memchr(name, '\r', (size_t)nlen) != NULL
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

/* The first c in [p, end), or end. */
static const char *
find(const char *p, const char *end, int c)
{
    const char *hit = memchr(p, c, (size_t)(end - p));
    return hit != NULL ? hit : end;
}

static PyObject *
speedups_parse_head(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    const char *data, *end, *line, *line_end, *stop;
    Py_ssize_t len, count = 0, room = STACK_ITEMS;
    PyObject *command = NULL, *headers = NULL, *marks_obj = NULL, *result = NULL;
    PyObject *stack_items[STACK_ITEMS], **items = stack_items;
    long marks = 0;
    int has_nul, has_cr, ascii;

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
    /* Most blocks have no NUL and no CR (LF-only clients) and are ASCII: one look at the
     * whole block each, and the per-line work skips what cannot be there. */
    has_nul = memchr(data, '\0', (size_t)len) != NULL;
    has_cr = memchr(data, '\r', (size_t)len) != NULL;
    ascii = is_ascii(data, len);

    /* the command: the first line, cut at its NUL, then at its first CR */
    line_end = find(data, end, '\n');
    stop = has_nul ? find(data, line_end, '\0') : line_end;
    command = text(data, (has_cr ? find(data, stop, '\r') : stop) - data, ascii);
    if (command == NULL) {
        goto done;
    }
    while (line_end < end) {
        const char *colon, *value, *vend;
        PyObject *name_obj, *value_obj, *pair;

        line = line_end + 1;
        line_end = find(line, end, '\n');
        stop = has_nul ? find(line, line_end, '\0') : line_end;
        colon = memchr(line, ':', (size_t)(stop - line));
        if (colon == NULL) {
            continue;
        }
        value = colon + 1;
        while (value < stop && *value == ' ') {
            value++;
        }
        vend = has_cr ? find(value, stop, '\r') : stop;
        marks |= header_marks(line, colon - line, value, vend - value);

        name_obj = text(line, colon - line, ascii);
        if (name_obj == NULL) {
            goto done;
        }
        value_obj = text(value, vend - value, ascii);
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
        if (count == room) { /* more headers than the stack holds */
            PyObject **bigger;
            room *= 4;
            if (items == stack_items) {
                bigger = PyMem_New(PyObject *, (size_t)room);
                if (bigger != NULL) {
                    memcpy(bigger, stack_items, sizeof stack_items);
                }
            }
            else {
                bigger = PyMem_Resize(items, PyObject *, (size_t)room);
            }
            if (bigger == NULL) {
                Py_DECREF(pair);
                PyErr_NoMemory();
                goto done;
            }
            items = bigger;
        }
        items[count++] = pair;
    }
    headers = PyList_New(count);
    marks_obj = PyLong_FromLong(marks);
    if (headers == NULL || marks_obj == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyList_SET_ITEM(headers, i, items[i]); /* the list takes the references */
    }
    count = 0;
    result = PyTuple_Pack(3, command, headers, marks_obj);
done:
    while (count > 0) {
        Py_DECREF(items[--count]);
    }
    if (items != stack_items) {
        PyMem_Free(items);
    }
    Py_XDECREF(command);
    Py_XDECREF(headers);
    Py_XDECREF(marks_obj);
    if (view.obj != NULL) {
        PyBuffer_Release(&view);
    }
    return result;
}

/* ------------------------------------------------------------------------------------------ */

static PyMethodDef speedups_methods[] = {
    {"parse_head", (PyCFunction)(void (*)(void))speedups_parse_head, METH_FASTCALL,
     "parse_head($module, head, /)\n--\n\n"
     "framing.parse_head in C: a header block (bytes-like) -> (command, [(name, value)...],\n"
     "marks)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef_Slot speedups_slots[] = {
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
    {0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "mod_event_socket._speedups",
    .m_doc = "Optional C version of framing.parse_head.",
    .m_size = 0,
    .m_methods = speedups_methods,
    .m_slots = speedups_slots,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&speedups_module);
}
