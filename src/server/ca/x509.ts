/** Server code loads @peculiar/x509 through the shared set-up module; see src/common/x509.ts. */
export { x509 } from "../../common/x509.js";
