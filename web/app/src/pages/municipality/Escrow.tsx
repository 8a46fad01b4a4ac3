// Escrow: the municipality's own escrow, from the escrow service.

import { useSession } from "../../lib/auth";
import { EscrowPanels } from "../../components/EscrowPanels";

export function MunicipalEscrow() {
  const { token } = useSession();
  return (
    <div className="page">
      <EscrowPanels token={token} scope={{ own: true }} />
    </div>
  );
}
