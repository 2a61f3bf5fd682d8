"""The aberration function, random aberrations and Scherzer defocus.

Aberration coefficients follow Krivanek's notation and abTEM's sign convention:
``C10 = -defocus`` (a positive ``defocus`` is underfocus), ``C12`` twofold astigmatism,
``C21`` axial coma, ``C23`` threefold astigmatism, ``C30 = Cs``, ``C50 = C5``; all
lengths in Å, azimuths in radians.

.. math::

    \\chi(k, \\phi) = \\frac{2\\pi}{\\lambda}\\Big[\\tfrac12 C_{10}\\alpha^2
      + \\tfrac12 C_{12}\\alpha^2\\cos 2(\\phi-\\phi_{12})
      + \\tfrac13 C_{21}\\alpha^3\\cos(\\phi-\\phi_{21})
      + \\tfrac13 C_{23}\\alpha^3\\cos 3(\\phi-\\phi_{23})
      + \\tfrac14 C_{30}\\alpha^4 + \\tfrac16 C_{50}\\alpha^6\\Big], \\quad \\alpha = \\lambda k.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .electron import wavelength_A

#: Accelerating voltages offered by the generators [kV].
ENERGIES_KV = (60, 80, 120, 200, 300)

@dataclass
class Aberrations:
    """Coherent aberrations [Å] and their azimuths [rad]. ``defocus`` = −C10 [Å]."""

    defocus: float = 0.0
    C12: float = 0.0
    phi12: float = 0.0
    C21: float = 0.0
    phi21: float = 0.0
    C23: float = 0.0
    phi23: float = 0.0
    C30: float = 0.0
    C50: float = 0.0

    def chi(self, kx: np.ndarray, ky: np.ndarray, wavelength: float) -> np.ndarray:
        """Aberration phase χ [rad] at spatial frequencies ``kx, ky`` [1/Å]."""
        a = wavelength * np.hypot(kx, ky)
        phi = np.arctan2(ky, kx)
        a2 = a * a
        c = (
            0.5 * (-self.defocus) * a2
            + 0.5 * self.C12 * a2 * np.cos(2 * (phi - self.phi12))
            + (1 / 3) * self.C21 * a2 * a * np.cos(phi - self.phi21)
            + (1 / 3) * self.C23 * a2 * a * np.cos(3 * (phi - self.phi23))
            + 0.25 * self.C30 * a2 * a2
            + (1 / 6) * self.C50 * a2 * a2 * a2
        )
        return (2 * np.pi / wavelength) * c

    def as_params(self) -> dict:
        """JSON-friendly parameters with physical units in the names."""
        d = asdict(self)
        return {
            "defocus_nm": d["defocus"] / 10, "C12_nm": d["C12"] / 10, "phi12_deg": np.degrees(d["phi12"]),
            "C21_nm": d["C21"] / 10, "phi21_deg": np.degrees(d["phi21"]),
            "C23_nm": d["C23"] / 10, "phi23_deg": np.degrees(d["phi23"]),
            "Cs_um": d["C30"] / 1e4, "C5_mm": d["C50"] / 1e7,
        }

    @classmethod
    def from_params(cls, p: dict) -> "Aberrations":
        """Inverse of :meth:`as_params`."""
        return cls(
            defocus=p.get("defocus_nm", 0.0) * 10, C12=p.get("C12_nm", 0.0) * 10, phi12=np.radians(p.get("phi12_deg", 0.0)),
            C21=p.get("C21_nm", 0.0) * 10, phi21=np.radians(p.get("phi21_deg", 0.0)),
            C23=p.get("C23_nm", 0.0) * 10, phi23=np.radians(p.get("phi23_deg", 0.0)),
            C30=p.get("Cs_um", 0.0) * 1e4, C50=p.get("C5_mm", 0.0) * 1e7,
        )


def _coefficient_for_phase(phase: float, order: int, alpha: float, wavelength: float) -> float:
    """Coefficient [Å] of an aberration ∝ α^order whose phase at ``alpha`` [rad] is ``phase`` [rad]."""
    return phase * wavelength * order / (2 * np.pi * alpha**order)


def random_probe_aberrations(rng: np.random.Generator, energy_kv: float, alpha_mrad: float) -> Aberrations:
    """Residual aberrations of a tuned probe corrector.

    Each aberration is drawn by the phase it reaches at the aperture edge: up to π/4 (the
    usual tuning target) for every term, up to π/2 for one randomly chosen term with
    p = 0.3 (a slightly mistuned microscope); defocus reaches up to ±π/2.
    """
    lam = wavelength_A(energy_kv)
    a = alpha_mrad * 1e-3
    budget = {k: rng.uniform(0, np.pi / 4) for k in ("C12", "C21", "C23", "C30", "C50")}
    if rng.random() < 0.3:
        k = str(rng.choice(list(budget)))
        budget[k] = rng.uniform(np.pi / 4, np.pi / 2)
    sign = lambda: 1.0 if rng.random() < 0.5 else -1.0  # noqa: E731
    return Aberrations(
        defocus=-_coefficient_for_phase(rng.uniform(-np.pi / 2, np.pi / 2), 2, a, lam),
        C12=_coefficient_for_phase(budget["C12"], 2, a, lam) , phi12=rng.uniform(0, np.pi),
        C21=_coefficient_for_phase(budget["C21"], 3, a, lam), phi21=rng.uniform(0, 2 * np.pi),
        C23=_coefficient_for_phase(budget["C23"], 3, a, lam), phi23=rng.uniform(0, 2 * np.pi / 3),
        C30=sign() * _coefficient_for_phase(budget["C30"], 4, a, lam),
        C50=sign() * _coefficient_for_phase(budget["C50"], 6, a, lam),
    )


def scherzer_defocus_A(cs_A: float, energy_kv: float) -> float:
    """Scherzer defocus [Å] (positive = underfocus for positive Cs; overfocus for negative Cs)."""
    return float(np.sign(cs_A) * 1.2 * np.sqrt(abs(cs_A) * wavelength_A(energy_kv)))


def random_tem_aberrations(rng: np.random.Generator, energy_kv: float) -> tuple[Aberrations, dict]:
    """Objective-lens aberrations of an HR-TEM.

    Cs: image-corrected (p = 0.5, −40 to 40 µm) or uncorrected (0.5–1.2 mm). Defocus:
    Scherzer plus an offset up to ±100 nm (drawn as ±100 nm·u³, so most images are near
    the optimum). Residual twofold astigmatism 0–2 nm, coma and threefold astigmatism
    0–50 nm.

    Returns
    -------
    Aberrations, dict
        The aberrations and ``{"corrected", "scherzer_defocus_nm", "defocus_offset_nm"}``.
    """
    corrected = bool(rng.random() < 0.5)
    cs = rng.uniform(-40, 40) * 1e4 if corrected else rng.uniform(0.5, 1.2) * 1e7
    sch = scherzer_defocus_A(cs, energy_kv)
    offset = (1.0 if rng.random() < 0.5 else -1.0) * 1000.0 * rng.random() ** 3
    ab = Aberrations(
        defocus=sch + offset, C12=rng.uniform(0, 20), phi12=rng.uniform(0, np.pi),
        C21=rng.uniform(0, 500), phi21=rng.uniform(0, 2 * np.pi),
        C23=rng.uniform(0, 500), phi23=rng.uniform(0, 2 * np.pi / 3), C30=cs,
    )
    return ab, {"corrected": corrected, "scherzer_defocus_nm": sch / 10, "defocus_offset_nm": offset / 10}


__all__ = [
    "ENERGIES_KV", "Aberrations", "scherzer_defocus_A",
    "random_probe_aberrations", "random_tem_aberrations",
]
