import { dirname, isAbsolute, relative, resolve, sep } from "node:path";

/**
 * Checks `admin_socket_path` against the public Workload API `socket_path` and returns the
 * admin path made absolute.
 *
 * The admin socket must not sit in the public socket's folder or below it. Workloads
 * usually get that folder mounted (a hostPath in Kubernetes), so an admin socket there
 * would reach them. Both paths are resolved against the working directory, without
 * following symbolic links, as spire-agent does. A public socket directly under `/` puts
 * every path in its folder. spire-agent's prefix check misses that case.
 */
export function checkAdminSocketPath(adminSocketPath: string, publicSocketPath: string): string {
  if (adminSocketPath === "") {
    throw new Error("admin_socket_path must not be empty");
  }

  const admin = resolve(adminSocketPath);
  const publicFolder = dirname(resolve(publicSocketPath));
  const fromPublicFolder = relative(publicFolder, admin);

  const outside = fromPublicFolder === ".." || fromPublicFolder.startsWith(`..${sep}`) || isAbsolute(fromPublicFolder);
  if (fromPublicFolder !== "" && !outside) {
    throw new Error(
      `admin_socket_path ${admin} is inside ${publicFolder}, the folder of the Workload API socket ${resolve(publicSocketPath)}: ` +
        "choose a folder that workloads cannot reach, e.g. /tmp/spire-agent/private/admin.sock",
    );
  }
  return admin;
}
