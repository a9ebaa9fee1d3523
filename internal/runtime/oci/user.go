package oci

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
)

type passwdEntry struct {
	name     string
	uid, gid uint32
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

// ResolveUser turns an image USER ("", "name", "uid", "name:group", "uid:gid" and mixes) into ids, reading
// rootfs/etc/passwd and rootfs/etc/group (symbolic links are resolved inside rootfs). A user given by name
// must exist; a numeric uid need not, and then its group is 0 unless given. Supplementary groups are the
// /etc/group groups that list the user's name, as the image's own login would get.
func ResolveUser(rootfs, user string) (User, error) {
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return User{}, fmt.Errorf("resolve user %q: %w", user, err)
	}
	defer root.Close()
	users, err := readEntries(root, "etc/passwd", parsePasswd)
	if err != nil {
		return User{}, fmt.Errorf("resolve user %q: %w", user, err)
	}
	groups, err := readEntries(root, "etc/group", parseGroup)
	if err != nil {
		return User{}, fmt.Errorf("resolve user %q: %w", user, err)
	}

	userPart, groupPart, hasGroup := strings.Cut(user, ":")
	if userPart == "" {
		userPart = "0"
	}
	var u User
	var name string
	if id, ok := parseID(userPart); ok {
		u.UID = id
		if i := slices.IndexFunc(users, func(p passwdEntry) bool { return p.uid == id }); i >= 0 {
			u.GID, name = users[i].gid, users[i].name
		}
	} else {
		i := slices.IndexFunc(users, func(p passwdEntry) bool { return p.name == userPart })
		if i < 0 {
			return User{}, fmt.Errorf("resolve user %q: no user %q in /etc/passwd", user, userPart)
		}
		u.UID, u.GID, name = users[i].uid, users[i].gid, users[i].name
	}
	if hasGroup {
		if id, ok := parseID(groupPart); ok {
			u.GID = id
		} else {
			i := slices.IndexFunc(groups, func(g groupEntry) bool { return g.name == groupPart })
			if i < 0 {
				return User{}, fmt.Errorf("resolve user %q: no group %q in /etc/group", user, groupPart)
			}
			u.GID = groups[i].gid
		}
	}
	if name != "" {
		for _, g := range groups {
			if g.gid != u.GID && slices.Contains(g.members, name) && !slices.Contains(u.AdditionalGids, g.gid) {
				u.AdditionalGids = append(u.AdditionalGids, g.gid)
			}
		}
	}
	return u, nil
}

func parseID(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil
}

// readEntries parses a colon-separated database; a missing file is an empty one (scratch images).
func readEntries[T any](root *os.Root, name string, parse func([]string) (T, bool)) ([]T, error) {
	f, err := root.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if e, ok := parse(strings.Split(line, ":")); ok {
			out = append(out, e)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read /%s: %w", name, err)
	}
	return out, nil
}

func parsePasswd(f []string) (passwdEntry, bool) {
	if len(f) < 4 {
		return passwdEntry{}, false
	}
	uid, ok1 := parseID(f[2])
	gid, ok2 := parseID(f[3])
	return passwdEntry{name: f[0], uid: uid, gid: gid}, ok1 && ok2
}

func parseGroup(f []string) (groupEntry, bool) {
	if len(f) < 3 {
		return groupEntry{}, false
	}
	gid, ok := parseID(f[2])
	g := groupEntry{name: f[0], gid: gid}
	if len(f) > 3 && f[3] != "" {
		g.members = strings.Split(f[3], ",")
	}
	return g, ok
}
