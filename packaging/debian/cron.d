# /etc/cron.d/apus: run the apus mail queue every 5 minutes on hosts without
# systemd. Where systemd is the init, apus-queue.timer runs it instead, so
# this entry does nothing there (and nothing once the package is removed).
SHELL=/bin/sh
PATH=/usr/sbin:/usr/bin:/sbin:/bin

*/5 * * * * root [ -x /usr/sbin/apus ] && [ ! -d /run/systemd/system ] && /usr/sbin/apus -q
