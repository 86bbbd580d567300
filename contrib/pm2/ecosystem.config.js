// pm2 entry for the pulse-tui exporter, beside the gateway it watches:
//   pm2 start contrib/pm2/ecosystem.config.js && pm2 save
// /metrics on 127.0.0.1:9464 (loopback: put a reverse proxy in front for TLS and basic auth).
// pulse-tui-watch: the watchdog; it reconnects dropped sessions by policy (PULSE_TUI_WATCH_* in .env.example).
// Start it with --dry-run first and read its journal; one acting watchdog per gateway (a second only watches).
module.exports = {
  apps: [
    {
      name: "pulse-tui-exporter",
      script: "pulse-tui",
      interpreter: "none",
      args: [
        "exporter",
        "--listen", "127.0.0.1:9464",
        "--env-file", "/root/salesboy-gateway/.env",
        "--auth-dir", "/root/salesboy-gateway/.wwebjs_auth",
      ],
      env: { PULSE_TUI_READ_ONLY: "true" },
      kill_timeout: 5000, // pm2 sends SIGINT first; the exporter exits cleanly on it
      autorestart: true,
      restart_delay: 5000,
      max_memory_restart: "200M",
    },
    {
      name: "pulse-tui-watch",
      script: "pulse-tui",
      interpreter: "none",
      args: [
        "watch",
        "--env-file", "/root/salesboy-gateway/.env",
        "--auth-dir", "/root/salesboy-gateway/.wwebjs_auth",
      ],
      // SIGINT finishes the action in flight and exits 0; give a gateway call its deadline.
      kill_timeout: 30000,
      autorestart: true,
      restart_delay: 30000, // never a restart loop that acts twice a second
      max_memory_restart: "200M",
    },
  ],
};
