#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# introspect-iface.sh ADDRESS NAME PATH INTERFACE: print INTERFACE of the live object as a
# stand-alone D-Bus introspection document, in the form conf/interfaces/*.xml keeps.
set -euo pipefail
addr=$1 name=$2 path=$3 iface=$4
xml=$(busctl --address="$addr" introspect --xml-interface "$name" "$path")
printf '%s\n' '<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"' \
        ' "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">' '<node>'
printf '%s\n' "$xml" | sed -n "/<interface name=\"$iface\">/,/<\/interface>/p"
printf '%s\n' '</node>'
