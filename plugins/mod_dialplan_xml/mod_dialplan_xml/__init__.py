"""mod_dialplan_xml: the ``XML`` dialplan (contexts, extensions, conditions, actions).

The hunt itself is :mod:`mod_dialplan_xml.engine`, a function over a small channel view; this
package adapts live sessions to it and registers the dialplan interface.
"""
