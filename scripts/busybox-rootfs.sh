#!/bin/sh
# Lay out a minimal busybox root filesystem in DIR from Debian's busybox-static:
# the static binary, a link per applet, /etc/passwd, /etc/group and /tmp.
# Every file gets the same fixed mtime, so the same busybox gives the same image.
set -eu
dir=${1:?usage: busybox-rootfs.sh DIR}
busybox=${BUSYBOX:-/bin/busybox}
if ! "$busybox" --list-full >/dev/null 2>&1; then
    echo "busybox-rootfs.sh: $busybox is not busybox-static (apt-get install busybox-static)" >&2
    exit 1
fi
mkdir -p "$dir/bin" "$dir/sbin" "$dir/usr/bin" "$dir/usr/sbin" "$dir/etc" "$dir/root" \
         "$dir/home" "$dir/var/www" "$dir/tmp" "$dir/proc" "$dir/sys" "$dir/dev"
chmod 1777 "$dir/tmp"
chmod 700 "$dir/root"
cp "$busybox" "$dir/bin/busybox"
"$busybox" --list-full | while read -r applet; do
    [ "$applet" = bin/busybox ] && continue
    [ -e "$dir/$applet" ] || ln -s /bin/busybox "$dir/$applet"
done
cat > "$dir/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
PASSWD
cat > "$dir/etc/group" <<'GROUP'
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
wheel:x:10:root
staff:x:50:
www-data:x:33:
users:x:100:
nogroup:x:65534:
GROUP
find "$dir" -exec touch -h -d @1700000000 {} +
