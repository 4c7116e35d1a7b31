// Package scripts holds the shell scripts that set a machine up for labctl;
// its tests run them where a newcomer would, on a fresh Debian root.
package scripts
