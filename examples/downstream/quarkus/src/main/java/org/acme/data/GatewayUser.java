package org.acme.data;

import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * GatewayUser is the caller as authenticated by Kong's legacy-auth plugin.
 *
 * <ul>
 *   <li>{@code X-User-ID}: the user id exactly as Rails returned it. It stays
 *       a String: ids may be non-numeric ({@code u-1001}) or exceed
 *       {@code long}.</li>
 *   <li>{@code X-User-Roles}: the roles, comma-joined ({@code admin,editor}).
 *       Kong removes the header when the user has no roles; missing or empty
 *       both mean none.</li>
 * </ul>
 *
 * Kong removes any client-sent copy of both headers before setting them, so
 * they can be trusted only when every request reaches this service through
 * Kong.
 *
 * <p><b>This example relies on network isolation.</b> It does not verify
 * legacy-auth's signed identity token ({@code jwt_header}): anyone who can
 * open a connection to this service without going through Kong (another
 * container on the same network, a misrouted load balancer) can send any
 * {@code X-User-ID} and is believed. Run it only where Kong is the sole
 * route in (a private network, a firewall or mTLS between Kong and the
 * service). Where that cannot be guaranteed, verify the token instead, as
 * the Fastify and Axum examples do (with Quarkus: smallrye-jwt with the
 * gateway's public key, {@code mp.jwt.verify.issuer}, a required
 * {@code mp.jwt.verify.audiences}, and a bounded token age).
 *
 * @param id    the user id, verbatim
 * @param roles the user's roles, unmodifiable; empty when the user has none
 */
public record GatewayUser(String id, List<String> roles) {

    /** Header carrying the user id (legacy-auth user_id_header). */
    public static final String USER_ID_HEADER = "X-User-ID";
    /** Header carrying the comma-joined roles (legacy-auth user_roles_header). */
    public static final String USER_ROLES_HEADER = "X-User-Roles";

    public GatewayUser {
        roles = List.copyOf(roles);
    }

    /**
     * fromHeaders reads the identity from the two header values (null when
     * absent). It is empty when there is no usable user id.
     */
    public static Optional<GatewayUser> fromHeaders(String userId, String rolesHeader) {
        if (userId == null || userId.isBlank()) {
            return Optional.empty();
        }
        List<String> roles = rolesHeader == null
                ? List.of()
                : Arrays.stream(rolesHeader.split(","))
                        .map(String::trim)
                        .filter(role -> !role.isEmpty())
                        .toList();
        return Optional.of(new GatewayUser(userId.trim(), roles));
    }

    /** hasRole reports whether the user has the role. */
    public boolean hasRole(String role) {
        return roles.contains(role);
    }
}
