// Access control for the admin API (issue #8 item 5). THE CONTRACT for every admin plugin:
//
//   1. Every admin route declares its minimum role in its route options:
//        app.get('/roster', { config: { minRole: 'viewer' } }, handler)
//        app.post('/quarantine/:id/resolve', { config: { minRole: 'operator' } }, handler)
//      A route without `minRole` needs 'admin'. Roles are ordered viewer < operator < admin:
//        viewer   GET status, quarantine, dead letters, trace, audit, devices, roster
//        operator + bind, replay, discard, resolve quarantine
//        admin    + users, tokens, config
//   2. The plugin enforces it with the hook from this file (register it inside your plugin, before routes):
//        app.addHook('onRequest', authHook(deps.access))
//      or is registered inside the admin scope in gateway/http/app.ts, which already carries the hook.
//      401 GW_ERR_UNAUTHORIZED without valid credentials, 403 GW_ERR_FORBIDDEN with too small a role,
//      403 GW_ERR_CSRF for a cookie-authenticated POST/PUT/PATCH/DELETE without a matching `x-csrf-token`,
//      429 GW_ERR_LOGIN_THROTTLED on login after too many failures (RFC 9457 problem bodies).
//   3. Who did it, for the audit trail: `actorOf(request)` → 'user:<name>', 'token:<user>', 'admin' (GW_ADMIN_TOKEN).
//      `request.principal` holds { name, role, via } once the hook ran.
// Credentials: session cookie `gw_session` (POST /v1/login) + CSRF header, `Authorization: Bearer <token>` with
// GW_ADMIN_TOKEN (role admin) or a per-user API token (`gw user token <name>`; the user's role).
export { Role, roleAtLeast, type Principal } from './roles.ts';
export { AccessControl, type AccessControlOptions } from './access.ts';
export { authHook, actorOf } from './hook.ts';
export { authRoutes } from './routes.ts';
export { UserStore, type UserRecord } from './users.ts';
