"""Code tables for :mod:`synthetic`: real SNOMED CT, RxNorm, LOINC, CVX and CDC race codes; made-up people.

Every code here is a published code with its published meaning; names, streets and phone numbers are
invented (555-01xx numbers are reserved for fiction).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ACUTE",
    "CHRONIC",
    "CITIES",
    "DRUG_ALLERGENS",
    "ENCOUNTER_TYPES",
    "ENV_ALLERGENS",
    "ETHNICITIES",
    "FAMILY",
    "FEMALE",
    "FOOD_ALLERGENS",
    "HBA1C",
    "LABS",
    "MALE",
    "PROCEDURES",
    "RACES",
    "REACTIONS",
    "SMOKING",
    "STREETS",
    "VACCINES",
]

MALE: Final = ("James", "Robert", "Michael", "David", "Daniel", "Carlos", "Wei", "Samuel", "Omar", "Thomas")
FEMALE: Final = ("Mary", "Linda", "Sarah", "Maria", "Aisha", "Emily", "Grace", "Mei", "Olivia", "Rosa")
FAMILY: Final = (
    "Alder",
    "Brookfield",
    "Castellan",
    "Dunmore",
    "Ellery",
    "Fairbank",
    "Garrow",
    "Hollis",
    "Iverson",
    "Jarrett",
    "Kestrel",
    "Larkin",
    "Merriweather",
    "Northcott",
    "Oakhurst",
    "Pemberton",
    "Quimby",
    "Rowntree",
)
STREETS: Final = ("Maple", "Cedar", "Willow", "Lakeview", "Hillcrest", "Orchard", "Meadow", "Ridge")
# (city, state, zip, area code)
CITIES: Final = (
    ("Springfield", "IL", "62704", "217"),
    ("Madison", "WI", "53703", "608"),
    ("Salem", "OR", "97301", "503"),
    ("Dover", "DE", "19901", "302"),
    ("Columbus", "OH", "43215", "614"),
    ("Boise", "ID", "83702", "208"),
)
# CDC Race and Ethnicity (urn:oid:2.16.840.1.113883.6.238)
RACES: Final = (
    ("2106-3", "White"),
    ("2054-5", "Black or African American"),
    ("2028-9", "Asian"),
    ("1002-5", "American Indian or Alaska Native"),
    ("2076-8", "Native Hawaiian or Other Pacific Islander"),
)
ETHNICITIES: Final = (("2135-2", "Hispanic or Latino"), ("2186-5", "Not Hispanic or Latino"))

# Chronic problems: SNOMED, display, ICD-10-CM, display, RxNorm treatment (code, display) or None.
CHRONIC: Final = (
    (
        "38341003",
        "Hypertensive disorder, systemic arterial",
        "I10",
        "Essential (primary) hypertension",
        ("314076", "lisinopril 10 MG Oral Tablet"),
    ),
    (
        "44054006",
        "Diabetes mellitus type 2",
        "E11.9",
        "Type 2 diabetes mellitus without complications",
        ("860975", "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet"),
    ),
    (
        "55822004",
        "Hyperlipidemia",
        "E78.5",
        "Hyperlipidemia, unspecified",
        ("312961", "simvastatin 20 MG Oral Tablet"),
    ),
    (
        "195967001",
        "Asthma",
        "J45.909",
        "Unspecified asthma, uncomplicated",
        ("745679", "200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler"),
    ),
    (
        "49436004",
        "Atrial fibrillation",
        "I48.91",
        "Unspecified atrial fibrillation",
        ("855332", "warfarin sodium 5 MG Oral Tablet"),
    ),
    (
        "396275006",
        "Osteoarthritis",
        "M19.90",
        "Unspecified osteoarthritis, unspecified site",
        ("313782", "acetaminophen 325 MG Oral Tablet"),
    ),
    (
        "235595009",
        "Gastroesophageal reflux disease",
        "K21.9",
        "Gastro-esophageal reflux disease without esophagitis",
        None,
    ),
    ("40930008", "Hypothyroidism", "E03.9", "Hypothyroidism, unspecified", None),
    ("197480006", "Anxiety disorder", "F41.9", "Anxiety disorder, unspecified", None),
    (
        "13645005",
        "Chronic obstructive lung disease",
        "J44.9",
        "Chronic obstructive pulmonary disease, unspecified",
        None,
    ),
)
# Acute problems (resolved, diagnosed at an encounter): SNOMED, display, ICD-10-CM, display, RxNorm or None.
ACUTE: Final = (
    ("444814009", "Viral sinusitis", "J01.90", "Acute sinusitis, unspecified", None),
    (
        "43878008",
        "Streptococcal sore throat",
        "J02.0",
        "Streptococcal pharyngitis",
        ("308182", "amoxicillin 250 MG Oral Capsule"),
    ),
    (
        "68566005",
        "Urinary tract infectious disease",
        "N39.0",
        "Urinary tract infection, site not specified",
        None,
    ),
    (
        "10509002",
        "Acute bronchitis",
        "J20.9",
        "Acute bronchitis, unspecified",
        ("310965", "ibuprofen 200 MG Oral Tablet"),
    ),
)

# Allergens: (system key, code, display, category)
DRUG_ALLERGENS: Final = (
    ("70618", "Penicillin"),
    ("1191", "Aspirin"),
    ("2670", "Codeine"),
    ("723", "Amoxicillin"),
)
FOOD_ALLERGENS: Final = (
    ("227493005", "Cashew nut"),
    ("102263004", "Eggs (edible)"),
    ("3718001", "Cow's milk"),
)
ENV_ALLERGENS: Final = (("256259004", "Pollen"), ("264287008", "Animal dander"), ("111088007", "Latex"))
REACTIONS: Final = (
    ("247472004", "Hives"),
    ("271807003", "Eruption of skin"),
    ("39579001", "Anaphylaxis"),
    ("422587007", "Nausea"),
    ("267036007", "Dyspnea"),
    ("418290006", "Itching"),
)

# CVX code, display
VACCINES: Final = {
    "flu": ("150", "Influenza, injectable, quadrivalent, preservative free"),
    "tdap": ("115", "Tdap"),
    "covid": ("208", "COVID-19, mRNA, LNP-S, PF, 30 mcg/0.3 mL dose"),
    "pneumo": ("133", "Pneumococcal conjugate PCV 13"),
    "zoster": ("187", "zoster vaccine recombinant"),
    "hepb": ("43", "Hep B, adult"),
}

# Lab panels: LOINC, display, [(LOINC, display, UCUM, low, high, mean, sd)]
LABS: Final = (
    (
        "51990-0",
        "Basic metabolic panel - Blood",
        (
            ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 70, 99, 95, 15),
            ("3094-0", "Urea nitrogen [Mass/volume] in Serum or Plasma", "mg/dL", 7, 20, 14, 4),
            ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 0.6, 1.3, 0.95, 0.2),
            ("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 135, 145, 140, 2.5),
            ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 3.5, 5.1, 4.2, 0.35),
            ("2075-0", "Chloride [Moles/volume] in Serum or Plasma", "mmol/L", 98, 107, 102, 2.5),
            ("2028-9", "Carbon dioxide, total [Moles/volume] in Serum or Plasma", "mmol/L", 22, 29, 25, 2),
            ("17861-6", "Calcium [Mass/volume] in Serum or Plasma", "mg/dL", 8.5, 10.5, 9.4, 0.4),
        ),
    ),
    (
        "58410-2",
        "CBC panel - Blood by Automated count",
        (
            ("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", 4.5, 11.0, 7.2, 1.8),
            ("789-8", "Erythrocytes [#/volume] in Blood by Automated count", "10*6/uL", 4.2, 5.9, 4.9, 0.4),
            ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 12.0, 17.5, 14.2, 1.3),
            ("4544-3", "Hematocrit [Volume Fraction] of Blood by Automated count", "%", 36, 50, 42, 3.5),
            ("777-3", "Platelets [#/volume] in Blood by Automated count", "10*3/uL", 150, 400, 250, 55),
        ),
    ),
    (
        "57698-3",
        "Lipid panel with direct LDL - Serum or Plasma",
        (
            ("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", 0, 200, 190, 30),
            ("2571-8", "Triglyceride [Mass/volume] in Serum or Plasma", "mg/dL", 0, 150, 140, 40),
            ("2085-9", "Cholesterol in HDL [Mass/volume] in Serum or Plasma", "mg/dL", 40, 100, 52, 10),
            (
                "18262-6",
                "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay",
                "mg/dL",
                0,
                100,
                110,
                25,
            ),
        ),
    ),
)
HBA1C: Final = ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 4.0, 5.6, 7.1, 0.9)

PROCEDURES: Final = (
    ("73761001", "Colonoscopy"),
    ("29303009", "Electrocardiographic procedure"),
    ("399208008", "Plain chest X-ray"),
    ("80146002", "Appendectomy"),
    ("38102005", "Cholecystectomy"),
    ("430193006", "Medication reconciliation"),
)
ENCOUNTER_TYPES: Final = (
    ("185349003", "Encounter for check up"),
    ("390906007", "Follow-up encounter"),
    ("185345009", "Encounter for symptom"),
)
# Smoking status (SNOMED), with rough weights.
SMOKING: Final = (
    ("266919005", "Never smoked tobacco", 6),
    ("8517006", "Ex-smoker", 3),
    ("449868002", "Smokes tobacco daily", 2),
    ("428041000124106", "Occasional tobacco smoker", 1),
)
