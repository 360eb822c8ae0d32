package org.acme.data;

import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import org.jboss.logging.Logger;

/**
 * NetworkIsolationNotice says at startup, in the log, what this service
 * trusts: the plain X-User-ID / X-User-Roles headers, with no signed token
 * checked. An operator reading the log learns that the service must be
 * reachable only through Kong.
 */
@ApplicationScoped
public class NetworkIsolationNotice {

    private static final Logger LOG = Logger.getLogger(NetworkIsolationNotice.class);

    void onStart(@Observes StartupEvent event) {
        LOG.warn("identity is taken from the plain " + GatewayUser.USER_ID_HEADER + " / "
                + GatewayUser.USER_ROLES_HEADER + " headers without verifying legacy-auth's signed token: "
                + "this service must be reachable only through Kong (network isolation)");
    }
}
