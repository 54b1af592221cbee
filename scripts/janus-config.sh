#!/usr/bin/env bash
# Writes a Janus configuration for the SFU test into directory $1 (created): the plain HTTP
# transport only, on 127.0.0.1:$2, the VideoRoom and TextRoom plugins only, room 1234 in both,
# VideoRoom recording into $1/recordings, ICE (lite) gathering only on interface $3 (Janus never
# gathers on loopback; scripts/test-sfu.sh passes the veth of its network namespace).
# Usage: scripts/janus-config.sh DIR PORT [ICE_INTERFACE]
set -euo pipefail
dir=$1
port=$2
ice_interface=${3:-}
lib=/usr/lib/x86_64-linux-gnu/janus
[ -d "$lib" ] || lib=$(dirname "$(dpkg -L janus | grep -m1 '/janus/plugins/libjanus_videoroom.so$')")/..
mkdir -p "$dir/plugins" "$dir/transports" "$dir/events" "$dir/loggers" "$dir/recordings"
# Only what the test uses is loaded: the plugin and transport folders hold links to those.
ln -sf "$lib/plugins/libjanus_videoroom.so" "$dir/plugins/"
ln -sf "$lib/plugins/libjanus_textroom.so" "$dir/plugins/"
ln -sf "$lib/transports/libjanus_http.so" "$dir/transports/"

cat > "$dir/janus.jcfg" <<CFG
general: {
	configs_folder = "$dir"
	plugins_folder = "$dir/plugins"
	transports_folder = "$dir/transports"
	events_folder = "$dir/events"
	loggers_folder = "$dir/loggers"
	debug_level = 4
	debug_timestamps = true
	session_timeout = 60
	interface = "127.0.0.1"
}
certificates: {
}
media: {
	rtp_port_range = "20000-40000"
}
nat: {
	nice_debug = false
	${ice_interface:+ice_enforce_list = \"$ice_interface\"}
	ice_lite = true
	ignore_mdns = true
}
plugins: {
}
transports: {
}
loggers: {
}
events: {
	broadcast = false
}
CFG

cat > "$dir/janus.transport.http.jcfg" <<CFG
general: {
	json = "plain"
	base_path = "/janus"
	http = true
	port = $port
	ip = "127.0.0.1"
	https = false
}
admin: {
	admin_http = false
	admin_https = false
}
cors: {
}
CFG

cat > "$dir/janus.plugin.videoroom.jcfg" <<CFG
general: {
}
room-1234: {
	description = "Conclave SFU test"
	publishers = 8
	bitrate = 1000000
	audiocodec = "opus"
	videocodec = "h264"
	h264_profile = "42e01f"
	record = true
	rec_dir = "$dir/recordings"
	require_e2ee = true
}
CFG

cat > "$dir/janus.plugin.textroom.jcfg" <<CFG
general: {
}
room-1234: {
	description = "Conclave SFU test control"
}
CFG
